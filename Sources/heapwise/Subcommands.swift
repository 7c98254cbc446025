import ArgumentParser

extension Heapwise {
  /// Every subcommand, in the order `--help` lists them.
  static let subcommands: [any ParsableCommand.Type] = [
    RecordCommand.self,
    TopCommand.self,
    CompareCommand.self,
    SummaryCommand.self,
    RecordsCommand.self,
    CheckCommand.self,
    ReportCommand.self,
    ExportCommand.self,
  ]
}
