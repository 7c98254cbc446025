import ArgumentParser

extension Heapwise {
  /// Every subcommand, in the order `--help` lists them.
  static let subcommands: [any ParsableCommand.Type] = [
    RecordsCommand.self,
  ]
}
