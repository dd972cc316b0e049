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

        func validate() throws {
            // Every `keys` subcommand's options are single-valued (this group runs for each).
            try refuseRepeatedOptions()
        }

        /// Opens the store.
        /// - Parameter create: whether the store may be created or prepared (its tables
        ///   created). Only `keys add` creates a store; listing or revoking opens an existing
        ///   store without changing it, and refuses a missing file (say a mistyped path) or a
        ///   file or database without the b4b tables.
        func open(create: Bool) async throws -> any GatewayStore {
            guard create else {
                do { return try await StoreLocation.openExisting(store) } catch { throw CommandError("\(error)") }
            }
            let s: any GatewayStore
            do {
                s = try StoreLocation.open(store)
            } catch {
                throw CommandError("--store: \(error)")
            }
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

        @Option(help: "A label for the account (e.g. its owner); no control, line-separator or bidirectional-control characters, at most 200 characters.")
        var name: String = ""

        func validate() throws {
            // A newline or an escape sequence in a name would forge lines of 'keys list'.
            try refuseUnprintable(name, option: "--name")
            if name.count > 200 { throw ValidationError("--name must be at most 200 characters, got \(name.count)") }
        }

        @Flag(help: "Print only the key (for scripts).")
        var quiet = false

        func run() throws {
            let (store, name, quiet) = (storeOptions, name, quiet)
            try runAsync {
                let s = try await store.open(create: true)
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

        /// A stored name as the table shows it: control and format characters (which `add`
        /// refuses, but a hand-edited store may hold) escaped as `\u{...}`, so that a name can
        /// never forge or rewrite lines of the listing. (JSON Lines escape them by themselves.)
        static func printable(_ name: String) -> String {
            var shown = ""
            for c in name.unicodeScalars {
                if c.isUnprintable {
                    shown += "\\u{\(String(c.value, radix: 16))}"
                } else {
                    shown.unicodeScalars.append(c)
                }
            }
            return shown
        }

        func run() throws {
            let (store, json) = (storeOptions, json)
            try runAsync {
                let s = try await store.open(create: false)
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
                        print("\(k.id)  \(status.padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(format: "%8.5f", o?.coverage ?? 0))  \(String(format: "%7d", o?.queryCount ?? 0))  \(dates.string(from: k.createdAt))  \(Self.printable(k.name))")
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

        func validate() throws {
            guard id.utf8.count == 12, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                // Never print a secret back: someone may have pasted a whole key here.
                if id.hasPrefix("b4b-") {
                    throw ValidationError("pass the account id (the 12 hex digits after 'b4b-'), not the key; this looks like the key of account '\(id.dropFirst(4).prefix(12))'")
                }
                throw ValidationError("the account id must be 12 lowercase hex digits, as 'keys list' shows (got \(id.utf8.count) characters starting '\(id.prefix(4))')")
            }
        }

        func run() throws {
            let (store, id) = (storeOptions, id)
            try runAsync {
                let s = try await store.open(create: false)
                let outcome: Result<Date?, CommandError>
                do {
                    if let record = try await s.key(id: id) {
                        if let revokedAt = record.revokedAt {
                            outcome = .failure(CommandError("account \(id) is already revoked (since \(ISO8601DateFormatter().string(from: revokedAt)))"))
                        } else if try await s.revokeKey(id: id, at: Date()) {
                            outcome = .success(nil)
                        } else {
                            outcome = .failure(CommandError("account \(id) was revoked meanwhile"))
                        }
                    } else {
                        outcome = .failure(CommandError("no account with id '\(id)' in \(StoreLocation.redacted(store.store))"))
                    }
                } catch {
                    await s.close()
                    throw CommandError("\(error)")
                }
                await s.close()
                _ = try outcome.get()
                print("revoked account \(id)")
            }
        }
    }
}
