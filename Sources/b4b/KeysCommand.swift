import ArgumentParser
import Defense
import Foundation
import Gateway

/// `b4b keys`: account administration for `b4b serve`.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the API keys (accounts) of 'b4b serve'.",
        discussion: """
            Keys are random (256 bits), shown once by 'add', and stored only as their SHA-256. \
            A key's id (the 12 hex digits after 'b4b-') is its account id in the defense. The \
            commands work while the gateway runs; a revoked key stops working within the \
            gateway's key cache time (keyCacheSeconds, default 2 s).
            """,
        subcommands: [Add.self, List.self, Revoke.self])

    /// Where the keys are stored.
    struct StoreOptions: ParsableArguments {
        @Option(help: ArgumentHelp("State store of the gateway: sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.", valueName: "location"))
        var store: String = GatewayConfiguration().store

        /// Opens the store and makes sure its tables exist.
        func open() async throws -> any GatewayStore {
            let s: any GatewayStore
            do { s = try StoreLocation.open(store) } catch { throw CommandError("--store: \(error)") }
            do { try await s.prepare() } catch {
                await s.close()
                throw CommandError("\(error)")
            }
            return s
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; prints it once (only its hash is stored).")

        @OptionGroup var storeOptions: StoreOptions

        @Option(help: "A label for the account (e.g. its owner).")
        var name: String = ""

        @Flag(help: "Print only the key (for scripts).")
        var quiet = false

        func run() throws {
            let (store, name, quiet) = (storeOptions, name, quiet)
            try runAsync {
                let s = try await store.open()
                let key = APIKey.generate()
                do {
                    try await s.insertKey(APIKeyRecord(id: key.id, keyHash: key.hash, name: name, createdAt: Date()))
                } catch {
                    await s.close()
                    throw CommandError("\(error)")
                }
                await s.close()
                if quiet {
                    print(key.text)
                } else {
                    print("created account \(key.id)\(name.isEmpty ? "" : " (\(name))") in \(StoreLocation.redacted(store.store))")
                    print("key (shown once, keep it secret): \(key.text)")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts with their state, coverage and query count (never the keys).")

        @OptionGroup var storeOptions: StoreOptions

        @Flag(help: "Print JSON Lines instead of a table.")
        var json = false

        func run() throws {
            let (store, json) = (storeOptions, json)
            try runAsync {
                let s = try await store.open()
                let keys: [APIKeyRecord]
                let occupancy: [String: OccupancySnapshot]
                do {
                    keys = try await s.keys()
                    occupancy = try await s.occupancies()
                } catch {
                    await s.close()
                    throw CommandError("\(error)")
                }
                await s.close()
                let dates = ISO8601DateFormatter()
                if !json { print("id            status   coverage  queries  created               name") }
                for k in keys {
                    let o = occupancy[k.id]
                    let status = k.revokedAt == nil ? "active" : "revoked"
                    if json {
                        let object: [String: Any] = [
                            "id": k.id, "name": k.name, "status": status, "created": dates.string(from: k.createdAt),
                            "coverage": o?.coverage ?? 0, "queries": o?.queryCount ?? 0,
                        ]
                        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                        print(String(decoding: data, as: UTF8.self))
                    } else {
                        print("\(k.id)  \(status.padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(format: "%8.5f", o?.coverage ?? 0))  \(String(format: "%7d", o?.queryCount ?? 0))  \(dates.string(from: k.createdAt))  \(k.name)")
                    }
                }
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an account's key (its occupancy is kept).")

        @OptionGroup var storeOptions: StoreOptions

        @Argument(help: "The account id (12 hex digits), as 'keys list' shows.")
        var id: String

        func run() throws {
            let (store, id) = (storeOptions, id)
            try runAsync {
                let s = try await store.open()
                let revoked: Bool
                do { revoked = try await s.revokeKey(id: id, at: Date()) } catch {
                    await s.close()
                    throw CommandError("\(error)")
                }
                await s.close()
                guard revoked else { throw CommandError("no active account with id '\(id)'") }
                print("revoked account \(id)")
            }
        }
    }
}
