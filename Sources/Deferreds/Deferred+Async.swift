import Synchronization

// MARK: - Swift concurrency

extension Deferred {
    /// The deferred's result, awaited: `let page = try await agent.request("GET", url).value`.
    ///
    /// - Returns: the chain's current result, once the chain has reached this point: at once, without
    ///   suspending, when the deferred has fired and is not paused; otherwise when it fires.
    /// - Throws: the `Failure` the chain holds (its `value` is the original error), or
    ///   `CancellationError` when the awaiting task was cancelled (see below).
    ///
    /// Awaiting adds a step to the chain, as `addBoth` would, that passes the result on unchanged:
    /// callbacks added before the `await` run before the awaiting code resumes, callbacks added after
    /// it see the same result. A failure the await throws counts as handled (it is not reported as an
    /// "Unhandled error in Deferred"). Awaiting a deferred that already fired adds nothing.
    ///
    /// **Where it runs.** The getter runs in the caller's isolation (`nonisolated(nonsending)`) and
    /// resumes there: in `@ReactorActor` code, or in an actor whose executor is a `ReactorExecutor`,
    /// on the reactor's thread. The deferred is never touched from anywhere else. The awaiting code
    /// resumes on a later turn of the loop than the one that fired the deferred. When the actor's
    /// executor is also a `TaskExecutor` (a `ReactorExecutor` is), the task prefers it while it
    /// waits, so that the wake-up goes straight to it rather than through the global thread pool.
    ///
    /// **Cancellation.** When the awaiting task is cancelled while the deferred has not fired, the
    /// awaiting code — back in its own isolation — calls `cancel()` on the deferred, so its
    /// canceller runs. If the deferred then fails with `CancelledError`, the await throws Swift's
    /// `CancellationError`; if it fires with anything else (a canceller may fire it with a result),
    /// the await returns or throws that. A result that arrived before the cancellation wins. A
    /// cancelled task awaiting a deferred that has already fired gets its result.
    ///
    /// A `CancelledError` that does not come from the awaiting task's cancellation (someone called
    /// `cancel()` on the deferred) is thrown as it is, inside a `Failure`.
    ///
    /// ```swift
    /// do {
    ///     let body = try await readBody(response).value
    /// } catch let failure as Failure {
    ///     print(failure.getErrorMessage())   // PartialDownloadError, ResponseFailed, ...
    /// }
    /// ```
    ///
    /// Twisted: `await d` in a coroutine run by `ensureDeferred` (`Deferred.__await__`); the
    /// awaited result stays in the chain here, where Twisted's `inlineCallbacks` leaves `None`.
    @inlinable nonisolated(nonsending) public var value: Value {
        get async throws {
            if let outcome = settledOutcome() { return try outcome.get() }
            return try await AwaitedDeferred(self).wait()
        }
    }

    /// The chain's result when it has fired and is not paused or running (marking a failure handled),
    /// else nil.
    @inlinable final func settledOutcome() -> Result<Value, Failure>? {
        if !flags.contains(.handle) {
            // The root itself: read its fields directly (the common case, and the fast one).
            guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return nil }
            precondition(laterType == nil, "Deferred<\(Value.self)>.value: a stale handle; the chain's type changed")
            if phase == .failed {
                flags.insert(.consumed)
                return .failure(unbox(result, as: Failure.self))
            }
            return .success(unbox(result, as: Value.self))
        }
        let chain = self.chain
        guard let settled = chain.settledResult else { return nil }
        let tail = chain.tailType
        precondition(
            tail == Value.self, "Deferred<\(Value.self)>.value: a stale handle; the chain now ends in \(tail)")
        if settled.failed {
            _ = chain.takeResultForOuter()
            return .failure(unbox(settled.result, as: Failure.self))
        }
        return .success(unbox(settled.result, as: Value.self))
    }

    /// A deferred for the result of async code: Twisted's `ensureDeferred`.
    ///
    /// `operation` runs in a new task isolated to the caller's actor (for `@ReactorActor` code, on
    /// the global reactor's thread). The task starts on the loop's next turn, as any task does, so
    /// the deferred comes back unfired; it fires with the operation's result, or fails with the
    /// error it threw (a `CancellationError` becomes `CancelledError`).
    ///
    /// `cancel()` on the deferred cancels the task, and the deferred fails at once with
    /// `CancelledError` (the task's late result is ignored). Cancellation is cooperative: the task
    /// sees it at its next cancellation point; a `try await d.value` it is suspended in cancels `d`.
    ///
    /// ```swift
    /// @ReactorActor func getPage(_ url: String) -> Deferred<[UInt8]> {
    ///     Deferred.fromTask {
    ///         let response = try await agent.request("GET", url).value
    ///         return try await readBody(response).value
    ///     }
    /// }
    /// ```
    ///
    /// Calling it from nonisolated code does not compile (`isolation` has no actor to default to):
    /// a deferred belongs to one isolation domain, and this is where its task runs. `operation` is
    /// `nonisolated(nonsending)`: it runs on that task, in that isolation, and reaches actor state
    /// with `await`. (Swift 6.3.1 runs such a closure on the global pool instead when it captures the
    /// actor instance it was written in — `self` in an actor method; capture what you need from it
    /// instead. `@ReactorActor` code has no such instance.)
    ///
    /// Twisted: `twisted.internet.defer.ensureDeferred` / `Deferred.fromCoroutine`. Twisted runs the
    /// coroutine at once up to its first suspension; here it starts on the next turn (a task started
    /// with `Task.immediate` does not reliably start at once on a custom executor in Swift 6.3).
    public static func fromTask(
        isolation: isolated any Actor = #isolation,
        _ operation: nonisolated(nonsending) sending @escaping () async throws -> Value
    ) -> Deferred<Value> {
        var task: Task<Void, Never>?
        let deferred = Deferred<Value> { _ in task?.cancel() }
        task = Task {
            _ = isolation
            do {
                deferred.callback(try await operation())
            } catch is CancellationError {
                deferred.errback(CancelledError())
            } catch {
                deferred.errback(error)
            }
        }
        return deferred
    }
}

/// The executor of `actor` when it can also run tasks (a `ReactorExecutor` can), else nil.
///
/// A function of its own: written inline as `#isolation?.unownedExecutor.asSerialExecutor() as? …`
/// in `nonisolated(nonsending)` code, Swift 6.3.1 releases the actor once too often (the optimiser's
/// ownership verifier rejects that form).
func taskExecutor(of actor: (any Actor)?) -> (any TaskExecutor)? {
    guard let actor, let serial = actor.unownedExecutor.asSerialExecutor() else { return nil }
    return serial as? any TaskExecutor
}

/// One `await` on a deferred that has not fired yet.
///
/// The deferred's step stores the outcome and wakes the waiting code; so does the task's
/// cancellation handler, which may run on any thread. Only `Wakeup` (atomics) is shared between
/// threads: the outcome, and the deferred itself, are touched only where the deferred was awaited.
@usableFromInline final class AwaitedDeferred<Value> {
    private let deferred: Deferred<Value>
    private var outcome: Result<Value, Failure>?
    private let wakeup = Wakeup()
    /// Set while waiting again after cancelling the deferred (whose chain was paused).
    private var continuation: CheckedContinuation<Void, Never>?

    @usableFromInline init(_ deferred: Deferred<Value>) {
        self.deferred = deferred
    }

    @usableFromInline nonisolated(nonsending) func wait() async throws -> Value {
        let wakeup = self.wakeup
        deferred.observe(consumingFailure: true) { [self] result in
            outcome = result
            if let continuation {
                self.continuation = nil
                continuation.resume()
            } else {
                wakeup.wake()
            }
        }
        // Resume on the awaiting actor's executor directly when it can run tasks (a ReactorExecutor
        // can): a continuation otherwise resumes on the global pool first, then hops back.
        let preferred = taskExecutor(of: #isolation)
        await withTaskExecutorPreference(preferred, isolation: #isolation) {
            await withTaskCancellationHandler(
                operation: { await withCheckedContinuation(isolation: #isolation) { wakeup.arm($0) } },
                onCancel: { wakeup.wake() },
                isolation: #isolation)
        }
        if let outcome { return try outcome.get() }
        // Woken without an outcome: the task was cancelled. Cancel the deferred from here.
        deferred.cancel()
        if outcome == nil {
            // Still unfired: its chain is paused. Wait for it; the task is already cancelled.
            await withTaskExecutorPreference(preferred, isolation: #isolation) {
                await withCheckedContinuation(isolation: #isolation) { continuation = $0 }
            }
        }
        guard let outcome else { preconditionFailure("Deferred.value resumed without a result") }
        if case .failure(let failure) = outcome, failure.value is CancelledError { throw CancellationError() }
        return try outcome.get()
    }
}

/// Resumes a waiting continuation exactly once, whoever asks first: the deferred's step (on the
/// awaiting code's thread) or the task's cancellation handler (on any thread), before or after the
/// continuation is armed.
final class Wakeup: Sendable {
    private final class Slot: Sendable {
        let continuation: CheckedContinuation<Void, Never>
        init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }
    }

    private static let unarmed: UInt8 = 0
    private static let armed: UInt8 = 1
    private static let woken: UInt8 = 2

    private let state = Atomic<UInt8>(Wakeup.unarmed)
    private let slot = AtomicLazyReference<Slot>()

    /// Stores `continuation`; resumes it at once if a wake-up already came.
    func arm(_ continuation: CheckedContinuation<Void, Never>) {
        _ = slot.storeIfNil(Slot(continuation))
        let (armed, _) = state.compareExchange(
            expected: Wakeup.unarmed, desired: Wakeup.armed, ordering: .acquiringAndReleasing)
        if !armed { continuation.resume() }
    }

    /// Resumes the continuation if it is armed and nobody woke it yet; a wake-up before `arm` is
    /// remembered, later ones do nothing.
    func wake() {
        if state.exchange(Wakeup.woken, ordering: .acquiringAndReleasing) == Wakeup.armed {
            slot.load()?.continuation.resume()
        }
    }
}
