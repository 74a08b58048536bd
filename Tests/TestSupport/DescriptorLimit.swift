import Glibc

/// Makes sure this process may open at least `count` descriptors, raising its soft limit (up to
/// the hard one) when it is lower; returns whether it can. For tests that open thousands of
/// sockets while other tests run beside them.
public func raiseDescriptorLimit(to count: Int) -> Bool {
    var limit = rlimit()
    guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return false }
    if limit.rlim_cur >= rlim_t(count) { return true }
    // (RLIM_INFINITY is the largest value, so it passes this test too.)
    guard limit.rlim_max >= rlim_t(count) else { return false }
    limit.rlim_cur = rlim_t(count)
    return setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0
}

/// RLIMIT_NOFILE as the type getrlimit takes (Glibc imports the enum case, not an Int32).
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
