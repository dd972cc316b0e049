/// A smooth objective that L-BFGS can search along lines.
///
/// Besides value and gradient at a point, it evaluates the one-dimensional restriction
/// `φ(α) = f(x + α d)` and its derivative. An objective whose evaluation is expensive can
/// precompute what is linear in `α` once per line (the softmax probe precomputes the logits of
/// `x` and of `d`, so a trial step costs no GEMM), which also makes `φ` smooth in `α`.
protocol LineSearchObjective: AnyObject {
    /// `f(x)` and `∇f(x)` at the starting point, which becomes the current point.
    func start(at x: [Double]) -> (value: Double, gradient: [Double])
    /// Prepares the line through the current point along `direction`; returns `φ'(0)`.
    func beginLine(direction: [Double]) -> Double
    /// `φ(step)` and `φ'(step)` on the prepared line. A non-finite value means "too far".
    func line(at step: Double) -> (value: Double, slope: Double)
    /// Moves the current point to `x + step · direction` on the prepared line; returns `f` and `∇f` there.
    func move(step: Double) -> (value: Double, gradient: [Double])
}

/// Limited-memory BFGS for a smooth unconstrained objective: the optimiser of ``LogisticProbe``.
///
/// Each iteration takes the quasi-Newton direction of the two-loop recursion over the last
/// `historySize` pairs `(s, y)` (initial inverse Hessian `γ I`, `γ = sᵀy / yᵀy` of the newest
/// pair) and a line search satisfying the strong Wolfe conditions (`c₁ = 1e-4`, `c₂ = 0.9`, at
/// most 50 trial steps; bracketing then zoom with safeguarded cubic interpolation, Nocedal &
/// Wright, *Numerical Optimization*, Algorithms 3.5–3.6). The first step, and the first after a
/// memory reset, tries `1 / ||d||₂` (as scipy's L-BFGS-B); later ones try the unit step.
///
/// Stopping: `max |gᵢ| <= tolerance` (scipy's `pgtol` without bounds) is convergence; the
/// iteration limit and a line search that finds no decrease even along steepest descent stop
/// it unconverged. Every accepted step satisfies sufficient decrease, so the recorded values
/// strictly decrease.
struct LBFGS {
    /// Why the minimisation stopped.
    enum Stop: Equatable {
        case gradientTolerance, iterationLimit, lineSearchStalled
    }

    /// What the minimisation returns.
    struct Outcome {
        var x: [Double]
        var value: Double
        var gradientMaxNorm: Double
        var iterations: Int
        /// Trial steps evaluated by the line searches.
        var lineEvaluations: Int
        var stop: Stop
        /// `f` at the start and after every iteration.
        var history: [Double]
    }

    /// The memory `m` (number of correction pairs kept), `>= 1`.
    var historySize: Int
    /// The largest number of iterations (accepted steps), `>= 0`.
    var maxIterations: Int
    /// Convergence threshold on the gradient's max-norm.
    var tolerance: Double

    static let sufficientDecrease = 1e-4  // c₁
    static let curvature = 0.9            // c₂
    static let maxLineSearchEvaluations = 50

    /// Minimises `objective` from `start`.
    func minimize(from start: [Double], _ objective: some LineSearchObjective) -> Outcome {
        var x = start
        var (f, g) = objective.start(at: x)
        var history = [f]
        var memory = CorrectionPairs(capacity: historySize)
        var iterations = 0
        var lineEvaluations = 0
        var stop = Stop.lineSearchStalled

        while true {
            guard f.isFinite else { stop = .lineSearchStalled; break }
            if maxAbs(g) <= tolerance { stop = .gradientTolerance; break }
            if iterations >= maxIterations { stop = .iterationLimit; break }

            var direction = memory.isEmpty ? g.map { -$0 } : memory.inverseHessianTimesNegative(g)
            var slope = objective.beginLine(direction: direction)
            if !(slope < 0), !memory.isEmpty {
                // Not a descent direction (rounding in a badly scaled memory): start afresh.
                memory.removeAll()
                direction = g.map { -$0 }
                slope = objective.beginLine(direction: direction)
            }
            guard slope < 0 else { stop = .lineSearchStalled; break }
            let initialStep = memory.isEmpty ? 1 / dot(direction, direction).squareRoot() : 1
            var search = LineSearch(value: f, slope: slope, objective: objective)
            let accepted = search.run(initialStep: initialStep)
            lineEvaluations += search.evaluations
            guard let accepted else {
                if memory.isEmpty { stop = .lineSearchStalled; break }
                memory.removeAll()  // retry along steepest descent before giving up
                continue
            }
            let (newValue, newGradient) = objective.move(step: accepted.step)
            let s = direction.map { accepted.step * $0 }
            let y = zip(newGradient, g).map { $0 - $1 }
            memory.append(s: s, y: y)
            axpy(accepted.step, direction, &x)
            (f, g) = (newValue, newGradient)
            iterations += 1
            history.append(f)
        }
        return Outcome(x: x, value: f, gradientMaxNorm: maxAbs(g), iterations: iterations,
                       lineEvaluations: lineEvaluations, stop: stop, history: history)
    }
}

// MARK: - Memory

/// The last `capacity` correction pairs `s = x₊ - x`, `y = g₊ - g`, oldest first.
private struct CorrectionPairs {
    let capacity: Int
    private var s: [[Double]] = []
    private var y: [[Double]] = []
    private var rho: [Double] = []

    init(capacity: Int) { self.capacity = capacity }

    var isEmpty: Bool { s.isEmpty }

    mutating func removeAll() {
        s.removeAll()
        y.removeAll()
        rho.removeAll()
    }

    /// Keeps the pair if it carries positive curvature (`sᵀy > ε yᵀy`); otherwise the BFGS
    /// update would lose positive definiteness, so it is skipped.
    mutating func append(s newS: [Double], y newY: [Double]) {
        let sy = dot(newS, newY)
        let yy = dot(newY, newY)
        guard sy.isFinite, yy.isFinite, sy > Double.ulpOfOne * yy else { return }
        if s.count == capacity {
            s.removeFirst()
            y.removeFirst()
            rho.removeFirst()
        }
        s.append(newS)
        y.append(newY)
        rho.append(1 / sy)
    }

    /// `-H g` by the two-loop recursion, `H₀ = (sᵀy / yᵀy) I` from the newest pair.
    /// - Precondition: not empty.
    func inverseHessianTimesNegative(_ g: [Double]) -> [Double] {
        var q = g
        var alpha = [Double](repeating: 0, count: s.count)
        for i in s.indices.reversed() {
            alpha[i] = rho[i] * dot(s[i], q)
            axpy(-alpha[i], y[i], &q)
        }
        let newest = s.count - 1
        let gamma = 1 / (rho[newest] * dot(y[newest], y[newest]))
        for k in q.indices { q[k] *= gamma }
        for i in s.indices {
            let beta = rho[i] * dot(y[i], q)
            axpy(alpha[i] - beta, s[i], &q)
        }
        for k in q.indices { q[k] = -q[k] }
        return q
    }
}

// MARK: - Line search

/// A strong-Wolfe line search on `φ(α) = f(x + α d)` (Nocedal & Wright, Algorithms 3.5 and 3.6).
private struct LineSearch<Objective: LineSearchObjective> {
    /// `φ(0)`.
    let value: Double
    /// `φ'(0) < 0`.
    let slope: Double
    let objective: Objective
    /// Trial steps evaluated so far.
    private(set) var evaluations = 0
    /// The evaluated step of lowest value that satisfies sufficient decrease.
    private var best: Trial?

    init(value: Double, slope: Double, objective: Objective) {
        self.value = value
        self.slope = slope
        self.objective = objective
    }

    /// One evaluated step length.
    struct Trial {
        var step: Double
        var value: Double
        /// `φ'(step)`, NaN when the value is infinite.
        var slope: Double
    }

    private static var maximumStep: Double { 1e10 }

    /// The first step satisfying the strong Wolfe conditions; failing that within the
    /// evaluation budget, the evaluated step of lowest value that satisfies sufficient
    /// decrease (with a value strictly below `φ(0)`); `nil` if there is none.
    mutating func run(initialStep: Double) -> Trial? {
        var previous = Trial(step: 0, value: value, slope: slope)
        var step = min(initialStep.isFinite && initialStep > 0 ? initialStep : 1, Self.maximumStep)
        var first = true
        while let current = trial(step) {
            if !decreasesEnough(current) || (!first && current.value >= previous.value) {
                return zoom(low: previous, high: current) ?? best
            }
            if satisfiesCurvature(current) { return current }
            if current.slope >= 0 {
                return zoom(low: current, high: previous) ?? best
            }
            guard current.step < Self.maximumStep else { break }
            // Still descending at `step`: extrapolate, by the cubic's minimiser when it lies
            // ahead, kept within [step + 1.1 Δ, step + 4 Δ] (Δ = step − previous step).
            let delta = current.step - previous.step
            let lower = current.step + 1.1 * delta, upper = current.step + 4 * delta
            let cubic = Self.cubicMinimizer(previous, current) ?? upper
            previous = current
            step = min(min(max(cubic, lower), upper), Self.maximumStep)
            first = false
        }
        return best
    }

    /// Evaluates `φ` at `step`, or returns nil once the evaluation budget is spent.
    private mutating func trial(_ step: Double) -> Trial? {
        guard evaluations < LBFGS.maxLineSearchEvaluations else { return nil }
        evaluations += 1
        let (v, d) = objective.line(at: step)
        let t = v.isFinite ? Trial(step: step, value: v, slope: d) : Trial(step: step, value: .infinity, slope: .nan)
        if decreasesEnough(t), t.value < (best?.value ?? .infinity) { best = t }
        return t
    }

    /// Shrinks the bracket `[low, high]` (unordered; `low` satisfies sufficient decrease and
    /// has the lower value) until a strong-Wolfe step is found or the budget runs out.
    private mutating func zoom(low: Trial, high: Trial) -> Trial? {
        var (low, high) = (low, high)
        while true {
            let a = min(low.step, high.step), b = max(low.step, high.step)
            let width = b - a
            // The bracket has collapsed below the precision of the step itself.
            guard width > 1e-15 * b else { return nil }
            var step = Self.cubicMinimizer(low, high) ?? (a + b) / 2
            // Safeguard: stay clear of the ends so that the bracket shrinks geometrically.
            if !(step >= a + 0.1 * width && step <= b - 0.1 * width) { step = (a + b) / 2 }
            guard let current = trial(step) else { return nil }
            if !decreasesEnough(current) || current.value >= low.value {
                high = current
            } else {
                if satisfiesCurvature(current) { return current }
                if current.slope * (high.step - low.step) >= 0 { high = low }
                low = current
            }
        }
    }

    /// Armijo, `φ(α) <= φ(0) + c₁ α φ'(0)`, and a strict decrease (which Armijo alone does
    /// not imply once `c₁ α φ'(0)` is below the rounding of `φ(0)`).
    private func decreasesEnough(_ t: Trial) -> Bool {
        t.value.isFinite && t.value < value && t.value <= value + LBFGS.sufficientDecrease * t.step * slope
    }

    /// Strong curvature: `|φ'(α)| <= c₂ |φ'(0)|`.
    private func satisfiesCurvature(_ t: Trial) -> Bool {
        abs(t.slope) <= LBFGS.curvature * abs(slope)
    }

    /// The minimiser of the cubic through `(u, φ(u), φ'(u))` and `(v, φ(v), φ'(v))`, or nil
    /// when it does not exist (non-finite data, no real minimiser).
    private static func cubicMinimizer(_ u: Trial, _ v: Trial) -> Double? {
        guard u.value.isFinite, v.value.isFinite, u.slope.isFinite, v.slope.isFinite, u.step != v.step else { return nil }
        let d1 = u.slope + v.slope - 3 * (u.value - v.value) / (u.step - v.step)
        let discriminant = d1 * d1 - u.slope * v.slope
        guard discriminant >= 0 else { return nil }
        let d2 = (v.step > u.step ? 1.0 : -1.0) * discriminant.squareRoot()
        let denominator = v.slope - u.slope + 2 * d2
        guard denominator != 0 else { return nil }
        let step = v.step - (v.step - u.step) * (v.slope + d2 - d1) / denominator
        return step.isFinite ? step : nil
    }
}

// MARK: - Vector helpers (the parameter count is small next to the GEMMs of an iteration)

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    var sum = 0.0
    for i in a.indices { sum += a[i] * b[i] }
    return sum
}

/// `y += alpha x`.
private func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
    for i in y.indices { y[i] += alpha * x[i] }
}

private func maxAbs(_ a: [Double]) -> Double {
    var m = 0.0
    for v in a {
        if v.isNaN { return .nan }
        m = max(m, abs(v))
    }
    return m
}
