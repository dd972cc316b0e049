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
}
