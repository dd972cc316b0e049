import NumericKernels

/// Fidelity of a stolen encoder: the mean cosine similarity `cos(a_i, b_i)` between
/// corresponding rows, e.g. the surrogate's and the victim's representations of held-out texts.
///
/// In `[-1, 1]`; 1 for a perfect copy (up to a positive scale per row). Equal to
/// `1 - meanCosineDistance(a, b)`, with the same conventions: a pair in which either row has
/// zero norm counts as similarity 0, an empty batch gives 1, a non-finite element gives NaN.
/// - Precondition: `a` and `b` have the same shape.
/// - Complexity: O(rows · columns).
public func meanCosineSimilarity(_ a: Matrix, _ b: Matrix) -> Double {
    1 - meanCosineDistance(a, b)
}
