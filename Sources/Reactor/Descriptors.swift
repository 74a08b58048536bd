import Deferreds

/// Something the reactor watches for readability: a file descriptor and what to do when it is ready.
///
/// `doRead()` runs on the reactor's thread each time the descriptor is readable (or has hung up).
/// If it throws, the reactor removes the descriptor (as reader and writer), reports the error and
/// calls `connectionLost(_:)` with it; the loop goes on.
///
/// Twisted: `twisted.internet.interfaces.IReadDescriptor`.
public protocol ReadDescriptor: AnyObject {
    /// The descriptor to watch; read when the descriptor is added and when it is removed.
    var fileDescriptor: Int32 { get }
    /// Reads what is ready. Runs on the reactor's thread each time the descriptor is readable or
    /// has hung up; throwing removes the descriptor and calls `connectionLost(_:)` with the error.
    func doRead() throws
    /// The descriptor was removed after `doRead()` threw, or the reactor shut down while it was
    /// watched: release what it holds. Called once.
    func connectionLost(_ reason: Failure)
}

/// Something the reactor watches for writability. Same rules as `ReadDescriptor`.
///
/// Twisted: `twisted.internet.interfaces.IWriteDescriptor`.
public protocol WriteDescriptor: AnyObject {
    /// The descriptor to watch; read when the descriptor is added and when it is removed.
    var fileDescriptor: Int32 { get }
    /// Writes what is pending. Runs on the reactor's thread each time the descriptor is writable;
    /// throwing removes the descriptor and calls `connectionLost(_:)` with the error.
    func doWrite() throws
    /// The descriptor was removed after `doWrite()` threw, or the reactor shut down while it was
    /// watched: release what it holds. Called once.
    func connectionLost(_ reason: Failure)
}

/// The reader and writer registered for one file descriptor.
struct Registration {
    var reader: (any ReadDescriptor)?
    var writer: (any WriteDescriptor)?
    var isEmpty: Bool { reader == nil && writer == nil }
}

/// The descriptors a reactor watches, indexed by file descriptor number.
struct DescriptorTable {
    private var slots: [Registration?] = []
    private(set) var count = 0

    subscript(fd: Int32) -> Registration? {
        get { Int(fd) < slots.count ? slots[Int(fd)] : nil }
        set {
            let index = Int(fd)
            if index >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: index - slots.count + 1))
            }
            let had = slots[index] != nil
            let has = newValue.map { !$0.isEmpty } ?? false
            slots[index] = has ? newValue : nil
            count += (has ? 1 : 0) - (had ? 1 : 0)
        }
    }

    /// Every registration, with its descriptor number.
    var all: [(Int32, Registration)] {
        slots.enumerated().compactMap { index, registration in registration.map { (Int32(index), $0) } }
    }

    mutating func removeAll() {
        slots = []
        count = 0
    }
}
