import ArgumentParser

/// The `b4b` command line.
@main
struct B4B: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "b4b",
        abstract: "Bucks for Buckets (B4B): an active defense of embedding APIs against model stealing.",
        subcommands: [
            Demo.self, ProtectCommand.self, RemapCommand.self, ProbeCommand.self, CoverageCommand.self, CalibrateCommand.self,
            ReproduceCommand.self, ServeCommand.self, KeysCommand.self,
        ],
        defaultSubcommand: Demo.self
    )

    /// Runs the command line. A first argument that is neither an option nor a subcommand is
    /// named as an unknown subcommand: the parser would otherwise hand it to the default
    /// subcommand (`demo`) and answer with demo's usage.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        if let first = arguments.first, !first.hasPrefix("-"), !names.contains(first) {
            note("Error: unknown subcommand '\(first)'; the subcommands are \(names.dropLast().joined(separator: ", ")) (see 'b4b --help')")
            exit(withError: ExitCode(64))
        }
        main(nil)
    }
}
