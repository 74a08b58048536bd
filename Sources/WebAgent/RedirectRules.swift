/// Which statuses keep the method and which turn it into GET. (Arrays, not sets: every response
/// is looked up in both, and hashing an Int costs more than scanning a handful.)
struct RedirectRules {
    /// Followed with the same method, for GET and HEAD only.
    let keepingMethod: [Int]
    /// Followed for any method, as a GET without a body (a HEAD stays a HEAD).
    let toGet: [Int]

    static let strict = RedirectRules(keepingMethod: [301, 302, 307, 308], toGet: [303])
    static let browserLike = RedirectRules(keepingMethod: [307, 308], toGet: [301, 302, 303])
}
