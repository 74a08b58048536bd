import Deferreds
import Reactor
import Testing

@testable import WebAgent

/// Every transition of `BodyDeliveryStateMachine`, driven by hand: no socket, no reactor.
@Suite struct BodyDeliveryStateMachineTests {
    typealias Machine = BodyDeliveryStateMachine

    /// A protocol that is never called: the machine only names it in its actions.
    final class Sink: Protocol {}

    /// What the machine's deliveries were, in order: chunks as arrays, ends as "end: <error type>".
    static func drain(_ machine: inout Machine, into protocolHandler: Protocol) -> [String] {
        var seen: [String] = []
        while let delivery = machine.nextDelivery() {
            switch delivery {
            case .deliver(let target, let chunk):
                #expect(target === protocolHandler)
                seen.append("\(chunk)")
            case .connectionLost(let target, let reason):
                #expect(target === protocolHandler)
                seen.append("end: \(type(of: reason.value))")
            }
        }
        return seen
    }

    static func emptyChunk(capacity: Int) -> [UInt8] {
        var chunk: [UInt8] = []
        chunk.reserveCapacity(capacity)
        return chunk
    }

    static func isWaitingEnded(_ state: Machine.State) -> Bool {
        if case .waitingEnded = state { return true }
        return false
    }

    static func isFinished(_ state: Machine.State) -> Bool {
        if case .finished = state { return true }
        return false
    }

    @Test func bytesBeforeTheProtocolAreHeldAndPauseTheSource() {
        // When bytes arrive before a protocol is attached, they are held and the source is paused.
        var machine = Machine(bufferLimit: 10)
        #expect(machine.sourceAction() == .none)
        #expect(machine.received([1, 2]) == nil)
        #expect(machine.heldBytes == 2)
        #expect(machine.sourceAction() == .pauseSource)
        #expect(machine.sourceAction() == .none)
        #expect(machine.sourcePaused)
    }

    @Test func attachingHandsOverTheHeldBytesThenResumesTheSource() {
        // When a protocol is attached, the held bytes go to it in order and the source resumes.
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        _ = machine.received([2, 3])
        _ = machine.sourceAction()
        let sink = Sink()
        #expect(machine.attach(sink) == nil)
        #expect(Self.drain(&machine, into: sink) == ["[1]", "[2, 3]"])
        #expect(machine.sourceAction() == .resumeSource)
        #expect(!machine.sourcePaused)
    }

    @Test func bytesGoStraightToAnAttachedProtocolWithNothingHeld() {
        // When a protocol is attached, not paused and nothing is held, received returns it: the
        // bytes are not held.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        #expect(machine.received([7]) === sink)
        #expect(machine.heldBytes == 0)
        #expect(machine.nextDelivery() == nil)
    }

    @Test func pausingHoldsBytesAndPausesTheSourceUntilResumed() {
        // When the protocol pauses, bytes are held and the source paused; on resume they are
        // delivered and the source resumes.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        machine.pause()
        #expect(machine.isPaused)
        #expect(machine.sourceAction() == .pauseSource)
        #expect(machine.received([4]) == nil)
        #expect(machine.nextDelivery() == nil)
        machine.resume()
        #expect(!machine.isPaused)
        #expect(Self.drain(&machine, into: sink) == ["[4]"])
        #expect(machine.sourceAction() == .resumeSource)
    }

    @Test func heldBytesOverTheLimitPauseTheSource() {
        // When an unpaused protocol's held bytes reach bufferLimit, the source is paused.
        var machine = Machine(bufferLimit: 4)
        let sink = Sink()
        _ = machine.attach(sink)
        machine.pause()
        _ = machine.received([1, 2])
        machine.resume()
        // Bytes held behind the first while not paused (as during a drain) count toward the limit.
        _ = machine.received([3, 4])
        #expect(machine.sourceAction() == .pauseSource)
        #expect(!machine.mayHold)
        #expect(Self.drain(&machine, into: sink) == ["[1, 2]", "[3, 4]"])
        #expect(machine.sourceAction() == .resumeSource)
    }

    @Test func anEndBeforeTheProtocolWaitsForIt() {
        // When the body ends before a protocol is attached, the held bytes and then the end go to
        // the protocol when it comes (Twisted's DEFERRED_CLOSE).
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        machine.ended(ResponseBody.responseDone)
        #expect(Self.isWaitingEnded(machine.state))
        #expect(machine.hasEnded && !machine.hasProtocol)
        #expect(machine.received([2]) == nil)
        let sink = Sink()
        #expect(machine.attach(sink) == nil)
        #expect(Self.drain(&machine, into: sink) == ["[1]", "end: ResponseDone"])
        #expect(Self.isFinished(machine.state))
    }

    @Test func anEndWithNothingHeldIsToldAtOnceEvenWhilePaused() {
        // When the body ends while the protocol is paused and nothing is held, connectionLost
        // comes at once.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        machine.pause()
        machine.ended(Failure(PotentialDataLoss()))
        #expect(Self.drain(&machine, into: sink) == ["end: PotentialDataLoss"])
    }

    @Test func anEndWaitsForHeldBytesOfAPausedProtocol() {
        // When the body ends while bytes are held for a paused protocol, the end waits for the
        // resume and follows the bytes.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        machine.pause()
        _ = machine.received([9])
        machine.ended(ResponseBody.responseDone)
        #expect(machine.nextDelivery() == nil)
        #expect(machine.isPaused)
        machine.resume()
        #expect(Self.drain(&machine, into: sink) == ["[9]", "end: ResponseDone"])
    }

    @Test func pausingDuringTheDrainStopsIt() {
        // When the protocol pauses between two held chunks, the second waits for the resume.
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        _ = machine.received([2])
        machine.ended(ResponseBody.responseDone)
        let sink = Sink()
        _ = machine.attach(sink)
        #expect(machine.nextDelivery() != nil)
        machine.pause()
        #expect(machine.nextDelivery() == nil)
        machine.resume()
        #expect(Self.drain(&machine, into: sink) == ["[2]", "end: ResponseDone"])
    }

    @Test func aFailureThatDiscardsDropsTheHeldBytes() {
        // When the body ends discarding what is held (a failure), the protocol hears the end at
        // once, without the held bytes.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        machine.pause()
        _ = machine.received([1])
        machine.ended(Failure(CancelledError()), discardingHeld: true)
        #expect(machine.heldBytes == 0)
        #expect(Self.drain(&machine, into: sink) == ["end: CancelledError"])
    }

    @Test func theFirstEndWins() {
        // When the body ends twice, the second reason is ignored and nothing held is dropped.
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        machine.ended(ResponseBody.responseDone)
        machine.ended(Failure(CancelledError()), discardingHeld: true)
        #expect(machine.heldBytes == 1)
        let sink = Sink()
        _ = machine.attach(sink)
        #expect(Self.drain(&machine, into: sink) == ["[1]", "end: ResponseDone"])
    }

    @Test func aFinishedBodyTellsALateProtocolItsReason() {
        // When a protocol is attached after the body finished, attach returns the reason to tell
        // it and no delivery follows.
        var machine = Machine(bufferLimit: 10)
        machine.abandon(Failure(TimeoutError(seconds: 1)))
        let reason = machine.attach(Sink())
        #expect(reason?.value is TimeoutError)
        #expect(machine.nextDelivery() == nil)
    }

    @Test func abandoningKeepsAnEarlierEndAndDropsTheBytes() {
        // When a body that already ended is abandoned, the earlier end is kept and the held bytes
        // are dropped; the source is no longer paused.
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        _ = machine.sourceAction()
        machine.ended(ResponseBody.responseDone)
        machine.abandon(Failure(CancelledError()))
        #expect(machine.heldBytes == 0 && !machine.sourcePaused)
        #expect(machine.attach(Sink())?.value is ResponseDone)
    }

    @Test func abandoningWhileDeliveringFinishesSilently() {
        // When a body being delivered is abandoned (its source shut down), it is finished and the
        // protocol is told nothing.
        var machine = Machine(bufferLimit: 10)
        _ = machine.attach(Sink())
        machine.abandon(Failure(CancelledError()))
        #expect(Self.isFinished(machine.state))
        #expect(machine.nextDelivery() == nil)
        #expect(machine.received([1]) == nil)
    }

    @Test func pauseAndResumeOutsideDeliveryDoNothing() {
        // When pause or resume comes before a protocol or after the end, the state is unchanged.
        var machine = Machine(bufferLimit: 10)
        machine.pause()
        #expect(!machine.isPaused)
        machine.resume()
        machine.abandon(Failure(CancelledError()))
        machine.pause()
        #expect(!machine.isPaused && Self.isFinished(machine.state))
    }

    @Test func aPausedDrainCanBePausedAgainAndResumed() {
        // When a protocol that has a pending end pauses and resumes, the end follows the resume.
        var machine = Machine(bufferLimit: 10)
        let sink = Sink()
        _ = machine.attach(sink)
        _ = machine.received([1])   // delivered at once by the owner; not held
        machine.pause()
        _ = machine.received([2])
        machine.ended(ResponseBody.responseDone)
        machine.pause()
        #expect(machine.isPaused)
        machine.resume()
        machine.resume()
        #expect(Self.drain(&machine, into: sink) == ["[2]", "end: ResponseDone"])
    }

    @Test func aSourceThatPausesItselfIsOnlyResumed() {
        // When the source pauses itself (libcurl), the machine never says pause, says resume once
        // after the source refused bytes and the protocol can take more, and refuses bytes while
        // it should not hold them.
        var machine = Machine(bufferLimit: 4, sourceControl: .bySourceItself)
        [UInt8]([1, 2]).withUnsafeBytes { machine.hold(gathering: $0) { Self.emptyChunk(capacity: $0) } }
        #expect(!machine.mayHold)
        #expect(machine.sourceAction() == .none)
        machine.sourceRefused()
        #expect(machine.sourceAction() == .none)
        let sink = Sink()
        _ = machine.attach(sink)
        #expect(Self.drain(&machine, into: sink) == ["[1, 2]"])
        #expect(machine.mayHold)
        #expect(machine.sourceAction() == .resumeSource)
        #expect(machine.sourceAction() == .none)
        machine.pause()
        #expect(!machine.mayHold)
        #expect(machine.sourceAction() == .none)
    }

    @Test func gatheringFillsTheLastHeldChunk() {
        // When bytes are held by gathering, they join the last chunk while it has room.
        var machine = Machine(bufferLimit: 100)
        let sink = Sink()
        _ = machine.attach(sink)
        [UInt8]([1]).withUnsafeBytes { machine.hold(gathering: $0) { Self.emptyChunk(capacity: max($0, 8)) } }
        [UInt8]([2]).withUnsafeBytes { machine.hold(gathering: $0) { Self.emptyChunk(capacity: max($0, 8)) } }
        #expect(Self.drain(&machine, into: sink) == ["[1, 2]"])
    }

    @Test func aReplacedSourceIsNotPaused() {
        // When the source is replaced (a request sent again), the machine no longer counts it
        // paused and says pause again if bytes are held.
        var machine = Machine(bufferLimit: 10)
        _ = machine.received([1])
        #expect(machine.sourceAction() == .pauseSource)
        machine.sourceReplaced()
        #expect(!machine.sourcePaused)
        #expect(machine.sourceAction() == .pauseSource)
    }
}
