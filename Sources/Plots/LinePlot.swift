import Foundation

/// A self-contained SVG line chart: axes with ticks and labels, a legend, one polyline
/// (with point markers) per series. Used for benchmark and evaluation figures.
///
/// Axes may be linear or base-10 logarithmic; on a log axis non-positive values are
/// dropped from the series (they cannot be drawn).
public struct LinePlot: Sendable {
    /// One named series of (x, y) points.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    /// Axis scale.
    public enum Scale: Sendable { case linear, logarithmic }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale = .linear
    public var yScale: Scale = .linear
    public var series: [Series] = []
    /// Canvas size in pixels (the canvas grows wider when legend names need it).
    public var width = 820.0, height = 520.0

    public init(title: String, xLabel: String, yLabel: String, xScale: Scale = .linear, yScale: Scale = .linear) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
    }

    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// The chart as an SVG document.
    public func svg() -> String {
        // The legend column widens (and the canvas with it) for long series names, at about
        // 7 px per character of the 12 px font.
        let longest = Double(series.map(\.name.count).max() ?? 0)
        let (left, right, top, bottom) = (80.0, max(200.0, 52 + 7 * longest), 50.0, 60.0)
        let width = self.width - 200 + right
        let (plotW, plotH) = (width - left - right, height - top - bottom)
        func usable(_ p: (x: Double, y: Double)) -> Bool {
            p.x.isFinite && p.y.isFinite && (xScale == .linear || p.x > 0) && (yScale == .linear || p.y > 0)
        }
        let drawn = series.map { s in Series(name: s.name, points: s.points.filter(usable)) }
        let all = drawn.flatMap(\.points)
        let xAxis = Axis(values: all.map(\.x), scale: xScale)
        let yAxis = Axis(values: all.map(\.y), scale: yScale)
        func px(_ x: Double) -> Double { left + xAxis.fraction(x) * plotW }
        func py(_ y: Double) -> Double { top + (1 - yAxis.fraction(y)) * plotH }

        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(fmt(width))" height="\(fmt(height))" viewBox="0 0 \(fmt(width)) \(fmt(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(left + plotW / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>
        <rect x="\(fmt(left))" y="\(fmt(top))" width="\(fmt(plotW))" height="\(fmt(plotH))" fill="none" stroke="#333"/>

        """
        for t in xAxis.ticks() {
            let x = px(t)
            out += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(top))\" x2=\"\(fmt(x))\" y2=\"\(fmt(top + plotH))\" stroke=\"#ddd\"/>\n"
            out += "<text x=\"\(fmt(x))\" y=\"\(fmt(top + plotH + 18))\" text-anchor=\"middle\">\(escape(label(t)))</text>\n"
        }
        for t in yAxis.ticks() {
            let y = py(t)
            out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y))\" x2=\"\(fmt(left + plotW))\" y2=\"\(fmt(y))\" stroke=\"#ddd\"/>\n"
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">\(escape(label(t)))</text>\n"
        }
        out += "<text x=\"\(fmt(left + plotW / 2))\" y=\"\(fmt(height - 15))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text x=\"18\" y=\"\(fmt(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(fmt(top + plotH / 2)))\">\(escape(yLabel))</text>\n"
        for (i, s) in drawn.enumerated() {
            let colour = Self.palette[i % Self.palette.count]
            let points = s.points.sorted { $0.x < $1.x }.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }
            if points.count > 1 {
                out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            for p in points {
                let xy = p.split(separator: ",")
                out += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
            let ly = top + 10 + Double(i) * 20
            out += "<line x1=\"\(fmt(left + plotW + 12))\" y1=\"\(fmt(ly))\" x2=\"\(fmt(left + plotW + 36))\" y2=\"\(fmt(ly))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(fmt(left + plotW + 42))\" y=\"\(fmt(ly + 4))\">\(escape(s.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    private func label(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e6 || a < 1e-3 { return String(format: "%.0e", v) }
        if a >= 1000 { return String(format: "%.0f", v) }
        return String(format: "%g", v)
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// The range and ticks of one axis.
struct Axis {
    let scale: LinePlot.Scale
    let low: Double, high: Double

    init(values: [Double], scale: LinePlot.Scale) {
        self.scale = scale
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if scale == .logarithmic {
            lo = pow(10, floor(log10(lo > 0 ? lo : 1)))
            hi = pow(10, ceil(log10(hi > 0 ? hi : 10)))
            if hi <= lo { hi = lo * 10 }
        } else {
            if lo == hi { (lo, hi) = (lo - 1, hi + 1) }
            let step = Axis.niceStep((hi - lo) / 5)
            lo = floor(lo / step) * step
            hi = ceil(hi / step) * step
        }
        self.low = lo
        self.high = hi
    }

    func fraction(_ v: Double) -> Double {
        switch scale {
        case .linear: (v - low) / (high - low)
        case .logarithmic: (log10(v) - log10(low)) / (log10(high) - log10(low))
        }
    }

    func ticks() -> [Double] {
        switch scale {
        case .logarithmic:
            let (a, b) = (Int(log10(low).rounded()), Int(log10(high).rounded()))
            return (a...b).map { pow(10, Double($0)) }
        case .linear:
            let step = Axis.niceStep((high - low) / 5)
            return stride(from: low, through: high + step * 1e-9, by: step).map { $0 }
        }
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        let r = raw / magnitude
        return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude
    }
}
