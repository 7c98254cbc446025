// The root command. Each subcommand lives in its own file; to add one, append its type to
// `Heapwise.subcommands` in Subcommands.swift. `main` is CommandLineEntry's (UsageErrors.swift).
import ArgumentParser

struct Heapwise: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "heapwise",
    abstract: "Record every allocation of a Linux process, then see which call sites hold memory.",
    discussion: """
      heapwise record -o app.heapwise -- ./app --flag
      heapwise top app.heapwise --by lineno --limit 10
      heapwise compare before.heapwise after.heapwise
      Exit status: 0 success, 1 unreadable input, 2 damaged dump (report printed), 64 usage error.
      """,
    version: "0.1.0",
    subcommands: subcommands
  )
}
