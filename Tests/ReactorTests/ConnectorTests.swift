import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

/// A listening socket on ::1 whose accept queue is full and never served: a connect to it stays in
/// progress (the kernel drops its SYNs). Closed when released.
private final class UnservedIPv6Listener {
    private var descriptors: [Int32] = []
    let port: Int

    init() {
        let listener = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, length)
                _ = getsockname(listener, $0, &length)
            }
        }
        listen(listener, 0)
        descriptors.append(listener)
        for _ in 0..<4 {
            let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = connect(fd, $0, length) }
            }
            descriptors.append(fd)
        }
        port = Int(UInt16(bigEndian: address.sin6_port))
    }

    deinit { descriptors.forEach { close($0) } }
}

/// A resolver that answers every name at once with the same addresses.
private final class FixedResolver: NameResolver {
    let addresses: [Address]
    init(_ hosts: [String]) { addresses = hosts.compactMap { Address(numericHost: $0) } }
    func resolveHostName(_ name: String) -> Deferred<HostResolution> {
        .succeed(HostResolution(name: name, addresses: addresses, ttl: 60))
    }
}

/// Records how a connection attempt ends.
private final class OutcomeFactory: ClientFactory {
    var failure: Failure?
    var peer: Address?
    var onEnd: (() -> Void)?

    override func buildProtocol(_ address: Address) -> Protocol? {
        peer = address
        onEnd?()
        return Protocol()
    }

    override func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {
        failure = reason
        onEnd?()
    }
}

@Suite struct ConnectorTests {
    @Test func anIPv6AddressThatNeverAnswersLosesToIPv4AfterTheAttemptDelay() throws {
        // When a name has an IPv6 address whose listener never accepts and an IPv4 one that does,
        // IPv6 is tried first, IPv4 only once the Clock passes the 250 ms attempt delay; IPv4
        // wins and the IPv6 attempt is closed.
        let clock = Clock()
        let factory = OutcomeFactory()
        var connectedBeforeTheDelay = true
        var attemptsBeforeTheDelay = 0
        var attemptsAfter = -1
        var accepted = 0
        try withReactor { reactor in
            let v6 = UnservedIPv6Listener()
            _ = try reactor.listenTCP(v6.port, Factory.forProtocol {
                accepted += 1
                return Protocol()
            }, interface: "127.0.0.1")
            let connector = reactor.connectTCP("dual.test", v6.port, factory, resolver: FixedResolver(["127.0.0.1", "::1"]),
                                               clock: clock)
            factory.onEnd = { [unowned factory] in
                attemptsAfter = connector.attemptsInProgress
                // This closure holds the connector, which holds the factory: let go of it.
                factory.onEnd = nil
                reactor.callLater(0.05) { reactor.stop() }
            }
            reactor.callLater(0.2) {
                connectedBeforeTheDelay = factory.peer != nil || accepted > 0
                attemptsBeforeTheDelay = connector.attemptsInProgress
                clock.advance(0.25)
                _ = v6
            }
        }
        #expect(!connectedBeforeTheDelay)
        #expect(attemptsBeforeTheDelay == 1)
        #expect(factory.peer?.host == "127.0.0.1")
        #expect(factory.failure == nil)
        #expect(attemptsAfter == 0)
        #expect(accepted == 1)
    }

    @Test func aRefusedIPv6AttemptStartsIPv4AtOnce() throws {
        // When the IPv6 address refuses the connection, IPv4 is tried at once, without waiting for
        // the attempt delay (the Clock never moves).
        let factory = OutcomeFactory()
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { Protocol() }, interface: "127.0.0.1")
            factory.onEnd = { reactor.stop() }
            reactor.connectTCP("dual.test", port.getHost().port, factory,
                               resolver: FixedResolver(["::1", "127.0.0.1"]), clock: Clock())
        }
        #expect(factory.peer?.host == "127.0.0.1")
    }

    @Test func whenEveryAddressFailsTheLastErrorIsReported() throws {
        // When both addresses refuse, the factory hears ConnectionRefusedError once.
        let factory = OutcomeFactory()
        var failures = 0
        try withReactor { reactor in
            let port = freeLoopbackPort()
            factory.onEnd = {
                failures += 1
                reactor.callLater(0.05) { reactor.stop() }
            }
            reactor.connectTCP("dual.test", port, factory, resolver: FixedResolver(["::1", "127.0.0.1"]), clock: Clock())
        }
        #expect(failures == 1)
        #expect(factory.failure?.check(ConnectionRefusedError.self) != nil)
    }

    @Test func aFailedLookupReachesTheFactoryAsDNSLookupErrorWithItsReason() throws {
        // When the resolver says the name does not exist, the factory hears DNSLookupError with
        // reason .nameNotFound, after connectTCP has returned.
        let factory = OutcomeFactory()
        var returned = false
        var heardBeforeReturn = false
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            let resolver = try testResolver(reactor, server)
            factory.onEnd = {
                heardBeforeReturn = !returned
                _ = (server, resolver)
                reactor.stop()
            }
            reactor.callWhenRunning {
                reactor.connectTCP("nowhere.test", 80, factory, resolver: CachingResolver(resolver: resolver, clock: reactor))
                returned = true
            }
        }
        #expect(!heardBeforeReturn)
        #expect((factory.failure?.value as? DNSLookupError)?.reason == .nameNotFound)
    }

    @Test func addressesAlternateFamiliesStartingWithIPv6() {
        // When a name has several addresses of each family, the attempts alternate IPv6 and IPv4,
        // IPv6 first, each family in its own order.
        let addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1", "::2"].compactMap { Address(numericHost: $0) }
        #expect(Connector.interleaved(addresses).map(\.host) == ["::1", "127.0.0.1", "::2", "127.0.0.2", "127.0.0.3"])
    }
}
