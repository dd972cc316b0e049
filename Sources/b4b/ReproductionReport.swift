import Defense
import Evaluation
import Foundation
import Plots

/// One seed's measurement.
struct Seeded<Point: Encodable & Sendable>: Encodable, Sendable {
    var seed: UInt64
    var point: Point
}

/// Everything `b4b reproduce` measured (results.json).
struct ReproductionResults: Encodable {
    var data: String
    var quick: Bool
    var seeds: [UInt64]
    var classifier: String
    /// The B4B defenses' hasher (`principal`, `origin`, …).
    var hasher: CoverageHasherKind
    var stealTask: String
    var featureCount: Int
    var heldOut: Int
    /// Accuracy of guessing the steal task's most frequent test label.
    var chanceAccuracy: Double
    /// The probe on the thief's own TF-IDF features of the steal task (no API at all).
    var ownFeaturesAccuracy: Double
    /// The static baseline's two sigmas (representation units): tolerated by a legitimate user,
    /// and B4B's price at the pool's full coverage.
    var staticSigmas: [Double]
    var calibration: CalibrationOutcome
    var coverage: [CoverageCurve]
    var legitimate: [Seeded<LegitimateUseResult>] = []
    var stealing: [Seeded<StealingPoint>] = []
    var padding: [Seeded<StealingPoint>] = []
    var sybils: [Seeded<SybilStealingPoint>] = []
    var seconds = 0.0
}

/// Mean and sample standard deviation over seeds.
struct Spread {
    var mean: Double
    var deviation: Double

    init(_ values: [Double]) {
        mean = values.reduce(0, +) / Double(max(values.count, 1))
        let m = mean
        deviation = values.count > 1 ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
    }

    /// `0.742 ± 0.004`.
    func fraction(_ digits: Int = 3) -> String { String(format: "%.\(digits)f ± %.\(digits)f", mean, deviation) }
    /// Percent: `74.2 ± 0.4`.
    func percent() -> String { String(format: "%.1f ± %.1f", 100 * mean, 100 * deviation) }
    /// Scientific for sigmas: `3.1e-03 ± 2e-04`.
    func scientific() -> String { mean == 0 && deviation == 0 ? "0" : String(format: "%.2g ± %.1g", mean, deviation) }
}

/// Writes report.md, results.json, CSV tables and SVG figures of a reproduction.
struct ReproductionReport {
    static let paperName = "B4B (paper cost)"
    static let headlineName = "B4B + relative price"

    let results: ReproductionResults
    /// Defense names in the order of the tables.
    let settings: [String]

    func write(to directory: OutputDirectory) throws {
        try directory.writeJSON(results, to: "results.json")
        try writeTables(directory)
        try writeFigures(directory)
        try writeCalibrationFigures(directory, outcome: results.calibration)
        try directory.write(markdown(), to: "report.md")
    }

    // MARK: Aggregation

    private func legitimate(_ task: String, _ defense: String) -> [LegitimateUseResult] {
        results.legitimate.map(\.point).filter { $0.task == task && $0.defense == defense }
    }

    private func stealing(_ defense: String, _ queries: Int) -> [StealingPoint] {
        results.stealing.map(\.point).filter { $0.defense == defense && $0.queries == queries }
    }

    private var tasks: [String] { Array(Set(results.legitimate.map(\.point.task))).sorted() }
    private var budgets: [Int] { Array(Set(results.stealing.map(\.point.queries))).sorted() }
    private var fullBudget: Int { budgets.last ?? 0 }

    private func sybils(_ defense: String, _ accounts: Int, _ queries: Int) -> [SybilStealingPoint] {
        results.sybils.map(\.point).filter { $0.defense == defense && $0.accounts == accounts && $0.queries == queries }
    }

    // MARK: Markdown

    private func markdown() -> String {
        var md: [String] = []
        let r = results
        md.append("# B4B end to end: legitimate users, a stealing thief, sybils and static noise\n")
        if r.quick {
            md.append("> **Quick mode**: shrunk pool, tasks, features and budgets. These numbers check that the pipeline runs; they are not results.\n")
        }
        md.append("""
            Data: `\(r.data)` (pool of \(r.calibration.pool.rowCount) texts; tasks \(tasks.joined(separator: ", "))). \
            Seeds \(r.seeds.map(String.init).joined(separator: ", ")) (each seed: one server secret, one order of the thief's \
            queries); tables give mean ± standard deviation over seeds. Hasher of both B4B defenses: \(Self.describe(r.hasher)). \
            Probe: \(r.classifier). Thief: ridge regression from \
            \(r.featureCount) hashed character 2-4-gram TF-IDF features of the texts, lambda chosen by validation on its own \
            answers; \(r.heldOut) pool texts held out for fidelity; scored on \(r.stealTask). Run time \(Int(r.seconds)) s.

            Written by `b4b reproduce`; every number below is measured by that run.

            """)
        md += headline()
        md += legitimateSection()
        md += stealingSection()
        md += sybilSection()
        md += coverageSection()
        return md.joined(separator: "\n") + "\n"
    }

    private func headline() -> [String] {
        let r = results
        var md = ["## Headline\n"]
        let full = fullBudget
        md.append("| | " + settings.joined(separator: " | ") + " |")
        md.append("|---|" + settings.map { _ in "---" }.joined(separator: "|") + "|")
        for t in tasks {
            md.append("| legitimate accuracy, \(t) (%) | " + settings.map { Spread(legitimate(t, $0).map(\.accuracy)).percent() }.joined(separator: " | ") + " |")
        }
        func thiefRow(_ label: String, _ value: (StealingPoint) -> Double, percent: Bool = false) -> String {
            "| \(label) | " + settings.map { s in
                let spread = Spread(stealing(s, full).map(value))
                return percent ? spread.percent() : spread.fraction()
            }.joined(separator: " | ") + " |"
        }
        md.append(thiefRow("thief, 1 account, \(full) queries: fidelity", \.fidelity))
        md.append(thiefRow("… centred fidelity", \.centredFidelity))
        md.append(thiefRow("… drop-in accuracy (%)", \.dropInAccuracy, percent: true))
        md.append(thiefRow("… own-probe accuracy (%)", \.stolenProbeAccuracy, percent: true))
        if let k = r.sybils.map(\.point.accounts).max(), let n = r.sybils.filter({ $0.point.accounts == k }).map(\.point.queries).max() {
            md.append("| \(k) sybils, \(n) queries: drop-in accuracy (%) | " + settings.map { s in
                let points = sybils(s, k, n)
                return points.isEmpty ? "not run" : Spread(points.map(\.dropInAccuracy)).percent()
            }.joined(separator: " | ") + " |")
        }
        md.append("")
        md.append(String(format: "Chance on %@: %.1f %%. The same probe on the thief's own TF-IDF features (no API at all): %.1f %%.",
                         r.stealTask, 100 * r.chanceAccuracy, 100 * r.ownFeaturesAccuracy))
        md.append(String(format: "Static noise sigmas: %.4g (the largest a legitimate user tolerates, from the calibration's sweep) and %.4g (Eq. (1) at the pool's full coverage, before B4B's rounding down to a rung), in representation units.\n",
                         r.staticSigmas.first ?? .nan, r.staticSigmas.last ?? .nan))
        md += targets()
        md += discussion()
        return md
    }

    /// The issue's headline targets, each checked against the measured means.
    private func targets() -> [String] {
        var md = ["### Targets\n"]
        let head = Self.headlineName
        for t in tasks {
            let none = Spread(legitimate(t, "none").map(\.accuracy)).mean
            let b4b = Spread(legitimate(t, head).map(\.accuracy)).mean
            let drop = 100 * (none - b4b)
            md.append(String(format: "- Legitimate accuracy on %@ within 0.5 points of no defense: %.1f %% vs %.1f %%, a loss of %.2f points: **%@**.",
                             t, 100 * b4b, 100 * none, drop, drop <= 0.5 ? "met" : String(format: "missed by %.2f points", drop - 0.5)))
        }
        let full = fullBudget
        let fidelity = Spread(stealing(head, full).map(\.fidelity)).mean
        let centred = Spread(stealing(head, full).map(\.centredFidelity)).mean
        let floor = Spread(stealing(head, full).map(\.meanAnswerFidelity)).mean
        md.append(String(format: "- Thief's fidelity at the full budget (%d queries) at or below 0.3: %.3f: **%@**. A copy that always answers the mean of the thief's answers already scores %.3f on this encoder; the centred fidelity, which is 0 for that copy, is %.3f.",
                         full, fidelity, fidelity <= 0.3 ? "met" : String(format: "missed by %.3f", fidelity - 0.3), floor, centred))
        let dropIn = Spread(stealing(head, full).map(\.dropInAccuracy)).mean
        let chance = results.chanceAccuracy
        md.append(String(format: "- Thief's drop-in accuracy within 10 points of chance (%.1f %%): %.1f %%: **%@**.",
                         100 * chance, 100 * dropIn, dropIn <= chance + 0.10 ? "met" : String(format: "missed by %.1f points", 100 * (dropIn - chance - 0.10))))
        let open = Spread(stealing("none", full).map(\.fidelity)).mean
        md.append(String(format: "- Undefended thief's fidelity above 0.9: %.3f: **%@**.\n", open, open > 0.9 ? "met" : "missed"))
        return md
    }

    /// Statements computed from the measurements; the reasoning around them is fixed text.
    private func discussion() -> [String] {
        var md = ["### Where B4B holds and where it does not\n"]
        let paper = Self.paperName, head = Self.headlineName
        let full = fullBudget
        // Low-budget thief.
        if let low = budgets.first {
            let p = Spread(stealing(paper, low).map(\.dropInAccuracy)).mean
            let n = Spread(stealing("none", low).map(\.dropInAccuracy)).mean
            let h = Spread(stealing(head, low).map(\.dropInAccuracy)).mean
            let sigma = Spread(stealing(paper, low).map(\.sigma)).mean
            md.append(String(format: "- **The low-budget thief.** With %d queries the paper's cost charges the thief sigma %.2g (its coverage is still at a legitimate level), and its drop-in accuracy is %.1f %% against %.1f %% undefended. Pricing coverage relative to the pool's at the same number of queries charges it from its first %d queries: drop-in %.1f %%.",
                             low, sigma, 100 * p, 100 * n, results.calibration.relative?.minimumQueries ?? 0, 100 * h))
        }
        let pf = Spread(stealing(paper, full).map(\.dropInAccuracy)).mean
        let hf = Spread(stealing(head, full).map(\.dropInAccuracy)).mean
        md.append(String(format: "- **The full-budget thief.** At %d queries its drop-in accuracy is %.1f %% under the paper's cost and %.1f %% with the relative price.", full, 100 * pf, 100 * hf))
        md.append("- **Plain fidelity.** The encoder's representations share a large common direction, so any copy that answers near the mean scores a high cosine similarity; a thief that chooses its ridge penalty by validation falls back to that mean as noise grows. Plain fidelity therefore cannot reach 0.3 against this thief whatever the noise; centred fidelity and drop-in accuracy measure what the copy is worth.")
        md.append(String(format: "- **Own-probe accuracy (the paper's measure).** The probe trained on the stolen encoder's outputs stays close to what the same probe gets from the thief's own text features (%.1f %%): text features already carry the task, so this measure says little about the stolen encoder here.", 100 * results.ownFeaturesAccuracy))
        if let k = results.sybils.map(\.point.accounts).max(), let n = results.sybils.filter({ $0.point.accounts == k }).map(\.point.queries).max() {
            let ps = Spread(sybils(paper, k, n).map(\.dropInAccuracy)).mean
            let hs = Spread(sybils(head, k, n).map(\.dropInAccuracy)).mean
            md.append(String(format: "- **Sybils.** Splitting %d queries over %d accounts gives drop-in %.1f %% under the paper's cost and %.1f %% with the relative price (one account with the full budget: %.1f %% and %.1f %%). Each sybil covers less, so the paper's cost charges each less; the per-account transforms cost the thief only the shared queries of the remapping.",
                             n, k, 100 * ps, 100 * hs, 100 * pf, 100 * hf))
        }
        for p in Array(Set(results.padding.map(\.point.padding))).sorted() {
            let points = results.padding.map(\.point).filter { $0.padding == p && $0.defense == head }
            guard !points.isEmpty else { continue }
            let padded = Spread(points.map(\.dropInAccuracy)).mean
            let open = Spread(stealing("none", full).map(\.dropInAccuracy)).mean
            let verdict = padded > hf + 0.5 * (open - hf)
                ? "Padding defeats most of the relative price"
                : (padded > hf + 0.05 ? "Padding defeats part of the relative price" : "Padding does not help this thief")
            var billing = ""
            if let near = budgets.first(where: { $0 >= points[0].distinctTexts }) {
                billing = String(format: " An undefended thief with %d queries gets %.1f %%: where queries are billed, padding multiplies what the thief pays for its copy by about %d.",
                                 near, 100 * Spread(stealing("none", near).map(\.dropInAccuracy)).mean, p)
            }
            md.append(String(format: "- **Padding (%d sends per text).** The thief spends its %d queries on %d distinct texts, each request preceded by repeats of one text, which lowers its coverage relative to the pool's at the same number of queries: sigma %.2g, drop-in %.1f %% with the relative price, against %.1f %% for the plain thief with the full budget and %.1f %% undefended. %@: repeats cost the thief distinct texts but no noise. The engine takes the larger of the two prices, so padding never brings a thief below the paper's price; what it buys back is the relative price.%@",
                             p, points[0].queries, points[0].distinctTexts, Spread(points.map(\.sigma)).mean, 100 * padded, 100 * hf, 100 * open, verdict, billing))
        }
        if results.staticSigmas.count == 2 {
            let names = settings.filter { $0.hasPrefix("static") }
            if names.count == 2 {
                let legitLow = tasks.map { Spread(legitimate($0, names[0]).map(\.accuracy)).mean }
                let legitHigh = tasks.map { Spread(legitimate($0, names[1]).map(\.accuracy)).mean }
                let thiefLow = Spread(stealing(names[0], full).map(\.dropInAccuracy)).mean
                let thiefHigh = Spread(stealing(names[1], full).map(\.dropInAccuracy)).mean
                md.append(String(format: "- **Static noise.** At the sigma legitimate users tolerate, the thief keeps %.1f %% drop-in accuracy; at the sigma that stops it (%.1f %%), legitimate accuracy falls to %@. Noise that grows with coverage separates the two; one sigma for everyone cannot.",
                                 100 * thiefLow, 100 * thiefHigh, legitHigh.map { String(format: "%.1f %%", 100 * $0) }.joined(separator: " and ")))
                _ = legitLow
            }
        }
        md.append("- **What B4B does not stop, and whom it hurts.** A thief whose queries look like a task's (a narrow region, few buckets per query) pays what a legitimate user pays; B4B prices breadth, not intent. The converse holds too: a legitimate user whose use is broad (indexing a general corpus, say) is priced like a thief. The calibration above only protects users as narrow as the tasks it was given.\n")
        return md
    }

    private func legitimateSection() -> [String] {
        var md = ["## 1. Legitimate users\n",
                  "Each task's user sends its training texts, then its test texts, through its own account; a probe is trained on the answers for the training texts and tested on the answers for the test texts.\n",
                  "| task | defense | accuracy (%) | change (points) | coverage | sigma |", "|---|---|---|---|---|---|"]
        for t in tasks {
            let none = Spread(legitimate(t, "none").map(\.accuracy)).mean
            for s in settings {
                let points = legitimate(t, s)
                md.append("| \(t) | \(s) | \(Spread(points.map(\.accuracy)).percent()) | "
                          + String(format: "%+.2f", 100 * (Spread(points.map(\.accuracy)).mean - none))
                          + " | \(Spread(points.map(\.coverage)).fraction()) | \(Spread(points.map(\.sigma)).scientific()) |")
            }
        }
        md.append("")
        return md
    }

    private func stealingSection() -> [String] {
        var md = ["## 2. Stealing with one account\n",
                  "Fidelity: mean cosine similarity between the stolen encoder's outputs and the account's noiseless answers for held-out pool texts (centred: after subtracting the references' mean; floor: the copy that always answers the mean). Drop-in: a probe trained on clean task representations, applied to the stolen encoder's outputs. Own probe: the paper's measure, a probe trained and tested on the stolen encoder's outputs.\n",
                  "![centred fidelity](stealing-centred-fidelity.svg) ![drop-in accuracy](stealing-drop-in.svg)\n",
                  "| defense | queries | coverage | sigma | lambda | fidelity | floor | centred fidelity | drop-in (%) | own probe (%) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in settings {
            for n in budgets {
                let p = stealing(s, n)
                md.append("| \(s) | \(n) | \(Spread(p.map(\.coverage)).fraction()) | \(Spread(p.map(\.sigma)).scientific()) | "
                          + "\(Spread(p.map(\.lambda)).scientific()) | \(Spread(p.map(\.fidelity)).fraction()) | "
                          + "\(Spread(p.map(\.meanAnswerFidelity)).fraction()) | \(Spread(p.map(\.centredFidelity)).fraction()) | "
                          + "\(Spread(p.map(\.dropInAccuracy)).percent()) | \(Spread(p.map(\.stolenProbeAccuracy)).percent()) |")
            }
        }
        md.append("")
        if !results.padding.isEmpty {
            md.append("**Padding thieves** (full budget; each request of real texts preceded by repeats of one text):\n")
            md.append("| defense | sends per text | queries | distinct texts | coverage | sigma | centred fidelity | drop-in (%) |")
            md.append("|---|---|---|---|---|---|---|---|")
            let keys = Set(results.padding.map { "\($0.point.defense)|\($0.point.padding)" }).sorted()
            for key in keys {
                let p = results.padding.map(\.point).filter { "\($0.defense)|\($0.padding)" == key }
                md.append("| \(p[0].defense) | \(p[0].padding) | \(p[0].queries) | \(p[0].distinctTexts) | \(Spread(p.map(\.coverage)).fraction()) | "
                          + "\(Spread(p.map(\.sigma)).scientific()) | \(Spread(p.map(\.centredFidelity)).fraction()) | \(Spread(p.map(\.dropInAccuracy)).percent()) |")
            }
            md.append("")
        }
        return md
    }

    private func sybilSection() -> [String] {
        var md = ["## 3. Sybils\n",
                  "The budget is split over k accounts; every account sends the same shared texts (counted against the budget once per account), its answers are remapped into account 1's space by least squares on them, and the stolen encoder is fitted on the union.\n",
                  "![sybils](sybils-drop-in.svg)\n",
                  "| defense | accounts | queries | shared | distinct texts | max coverage | max sigma | fidelity | centred fidelity | drop-in (%) | own probe (%) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        let keys = Set(results.sybils.map { SybilKey(defense: $0.point.defense, accounts: $0.point.accounts, queries: $0.point.queries) })
            .sorted { ($0.defenseIndex(settings), $0.accounts, $0.queries) < ($1.defenseIndex(settings), $1.accounts, $1.queries) }
        for key in keys {
            let p = sybils(key.defense, key.accounts, key.queries)
            md.append("| \(key.defense) | \(key.accounts) | \(key.queries) | \(p[0].sharedQueries) | \(p[0].distinctTexts) | "
                      + "\(Spread(p.map(\.maxCoverage)).fraction()) | \(Spread(p.map(\.maxSigma)).scientific()) | \(Spread(p.map(\.fidelity)).fraction()) | "
                      + "\(Spread(p.map(\.centredFidelity)).fraction()) | \(Spread(p.map(\.dropInAccuracy)).percent()) | \(Spread(p.map(\.stolenProbeAccuracy)).percent()) |")
        }
        md.append("")
        return md
    }

    private func coverageSection() -> [String] {
        let c = results.calibration
        let compared = Self.comparedHashers(besides: results.hasher)
        var md = ["## 4. Coverage, cost and calibration\n",
                  "Fraction of the 4096 buckets occupied against the number of queries, for each task (train then test texts) and the pool, with the defense's own hasher (\(Self.describe(results.hasher))) and, for comparison, \(compared.map(Self.describe).joined(separator: "; ")).\n",
                  (["![\(results.hasher.rawValue), the defense's](coverage.svg)"] + compared.map { "![\($0.rawValue)](coverage-\($0.rawValue).svg)" }).joined(separator: " ") + "\n",
                  "| hasher | dataset | rows | coverage at 1000 | at 5000 | at all rows |", "|---|---|---|---|---|---|"]
        for curve in results.coverage {
            func at(_ q: Int) -> String {
                guard q <= curve.rowCount, let v = curve.meanCoverage(atQueries: Double(q)) else { return "" }
                return String(format: "%.3f", v)
            }
            md.append("| \(curve.hasher.rawValue) | \(curve.name) | \(curve.rowCount) | \(at(1000)) | \(at(5000)) | \(at(curve.rowCount)) |")
        }
        let p = c.proposal
        md.append("")
        md.append(String(format: """
            **Calibration** (paper section 4.2, from the tasks and the pool only, seed 1): calibration spread %.4g representation units. \
            Largest legitimate coverage %.3f, pool coverage at %d queries beta = %.3f. Probe on %@: %.1f %% without noise, chance %.1f %%; \
            alpha = %.3g spreads (probe within the chance margin), tolerated sigma %.3g spreads. Paper cost (Eq. 1): lambda = %.3g, alpha = %.3g, beta = %.3f.
            """, c.calibrationSpread, p.legitimateCoverage, p.stealingBudget, p.beta, c.probeTask, 100 * p.noiselessAccuracy,
            100 * c.chanceAccuracy, p.alpha, p.toleratedSigma, p.lambda, p.alpha, p.beta))
        if let r = c.relative {
            md.append("")
            md.append(String(format: "Relative price: largest legitimate coverage relative to the pool's at the same number of queries %.3f (from %d queries on); Eq. (1) on that scale with beta = 1: lambda = %.3g, alpha = %.3g. The engine charges max(paper price, relative price).",
                             r.legitimateRelativeCoverage, r.minimumQueries, r.proposal.lambda, r.proposal.alpha))
            md.append("")
            md.append("| task | queries | relative coverage |")
            md.append("|---|---|---|")
            for t in r.tasks {
                for (q, v) in zip(t.queryCounts, t.relativeCoverage) where q == t.queryCounts.last || q == t.queryCounts.first {
                    md.append(String(format: "| %@ | %d | %.3f |", t.name, q, v))
                }
            }
        }
        md.append("")
        md.append("![noise sweep](noise-sweep.svg) ![cost curve](cost-curve.svg)\n")
        return md
    }

    // MARK: Tables and figures

    /// Every file a reproduction with the defense's `hasher` writes, checked before the run.
    static func outputFiles(hasher: CoverageHasherKind) -> [String] {
        ["report.md", "results.json", "legitimate.csv", "stealing.csv", "sybils.csv",
         "stealing-centred-fidelity.svg", "stealing-drop-in.svg", "stealing-fidelity.svg", "sybils-drop-in.svg"]
            + comparedHashers(besides: hasher).map { "coverage-\($0.rawValue).svg" } + calibrationFigureFiles
    }

    /// The hashers whose coverage is shown beside the defense's own: random hyperplanes through
    /// the origin and through the pool's mean, and the principal directions, less the defense's.
    static func comparedHashers(besides hasher: CoverageHasherKind) -> [CoverageHasherKind] {
        [.throughOrigin, .centred, .principal].filter { $0 != hasher }
    }

    /// How the report names a hasher.
    static func describe(_ kind: CoverageHasherKind) -> String {
        switch kind {
        case .throughOrigin: "random hyperplanes through the origin"
        case .centred: "random hyperplanes through the pool's mean (centred)"
        case .signsThroughOrigin: "sign hyperplanes through the origin"
        case .signsCentred: "sign hyperplanes through the pool's mean"
        case .principal: "the pool's principal directions with median thresholds"
        case .fitted: "a stored projection"
        }
    }

    private func writeTables(_ directory: OutputDirectory) throws {
        var legit = CSVTable(columns: ["seed", "task", "defense", "accuracy", "coverage", "sigma"])
        for s in results.legitimate {
            legit.append([.integer(Int(s.seed)), .text(s.point.task), .text(s.point.defense), .number(s.point.accuracy),
                          .number(s.point.coverage), .number(s.point.sigma)])
        }
        try directory.write(legit.text, to: "legitimate.csv")
        var steal = CSVTable(columns: ["seed", "defense", "padding", "queries", "distinct_texts", "coverage", "sigma", "lambda", "fidelity",
                                       "mean_answer_fidelity", "centred_fidelity", "drop_in_accuracy", "own_probe_accuracy"])
        for s in results.stealing + results.padding {
            let p = s.point
            steal.append([.integer(Int(s.seed)), .text(p.defense), .integer(p.padding), .integer(p.queries), .integer(p.distinctTexts),
                          .number(p.coverage), .number(p.sigma), .number(p.lambda), .number(p.fidelity), .number(p.meanAnswerFidelity),
                          .number(p.centredFidelity), .number(p.dropInAccuracy), .number(p.stolenProbeAccuracy)])
        }
        try directory.write(steal.text, to: "stealing.csv")
        var sybil = CSVTable(columns: ["seed", "defense", "accounts", "queries", "shared_queries", "distinct_texts", "max_coverage", "max_sigma",
                                       "fidelity", "centred_fidelity", "drop_in_accuracy", "own_probe_accuracy"])
        for s in results.sybils {
            let p = s.point
            sybil.append([.integer(Int(s.seed)), .text(p.defense), .integer(p.accounts), .integer(p.queries), .integer(p.sharedQueries),
                          .integer(p.distinctTexts), .number(p.maxCoverage), .number(p.maxSigma), .number(p.fidelity),
                          .number(p.centredFidelity), .number(p.dropInAccuracy), .number(p.stolenProbeAccuracy)])
        }
        try directory.write(sybil.text, to: "sybils.csv")
    }

    private func writeFigures(_ directory: OutputDirectory) throws {
        func stealingPlot(_ title: String, _ yLabel: String, _ value: (StealingPoint) -> Double, chance: Bool) -> LinePlot {
            var plot = LinePlot(title: title, xLabel: "queries of the thief (one account)", yLabel: yLabel, xScale: .logarithmic)
            for s in settings {
                plot.series.append(.init(name: s, points: budgets.map { (Double($0), Spread(stealing(s, $0).map(value)).mean) }))
            }
            if chance, let first = budgets.first, let last = budgets.last {
                plot.series.append(.init(name: "chance", points: [(Double(first), results.chanceAccuracy), (Double(last), results.chanceAccuracy)]))
            }
            return plot
        }
        try directory.write(stealingPlot("Centred fidelity of the stolen encoder", "centred fidelity (mean cosine)", \.centredFidelity, chance: false).svg(),
                            to: "stealing-centred-fidelity.svg")
        try directory.write(stealingPlot("Drop-in accuracy of the stolen encoder", "test accuracy", \.dropInAccuracy, chance: true).svg(),
                            to: "stealing-drop-in.svg")
        try directory.write(stealingPlot("Fidelity of the stolen encoder", "fidelity (mean cosine)", \.fidelity, chance: false).svg(),
                            to: "stealing-fidelity.svg")

        var sybilPlot = LinePlot(title: "Sybils: drop-in accuracy against the number of accounts", xLabel: "accounts", yLabel: "test accuracy")
        let sybilBudgets = Array(Set(results.sybils.map(\.point.queries))).sorted()
        for s in settings {
            for n in sybilBudgets {
                let ks = Array(Set(results.sybils.map(\.point).filter { $0.defense == s && $0.queries == n }.map(\.accounts))).sorted()
                guard !ks.isEmpty else { continue }
                sybilPlot.series.append(.init(name: "\(s), \(n) queries",
                                              points: ks.map { (Double($0), Spread(sybils(s, $0, n).map(\.dropInAccuracy)).mean) }))
            }
        }
        try directory.write(sybilPlot.svg(), to: "sybils-drop-in.svg")

        for kind in Self.comparedHashers(besides: results.hasher) {
            let curves = results.coverage.filter { $0.hasher == kind }
            try directory.write(CoverageCommand.plot(curves, title: "Coverage (\(kind.rawValue) hasher)") { $0.name }.svg(),
                                to: "coverage-\(kind.rawValue).svg")
        }
    }
}

/// A row of the sybil table.
private struct SybilKey: Hashable {
    var defense: String
    var accounts: Int
    var queries: Int

    func defenseIndex(_ order: [String]) -> Int { order.firstIndex(of: defense) ?? order.count }
}
