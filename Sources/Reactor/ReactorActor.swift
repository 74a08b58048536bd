/// The global actor of the default `reactor`: code marked `@ReactorActor` runs on that reactor's
/// thread, as steps of its loop.
///
/// It is what lets a program written with async/await keep Twisted's single thread: deferreds,
/// agents, responses and protocols are not `Sendable`, and the compiler accepts them in
/// `@ReactorActor` code because all of it runs in one isolation domain — the loop's. Its executor
/// is a `ReactorExecutor` on the global `reactor` (created on first use), so its jobs run only while
/// `reactor.run()` turns the loop, on the thread that called it.
///
/// ```swift
/// @ReactorActor func fetch(_ url: String) async throws -> [UInt8] {
///     let response = try await Agent(reactor).request("GET", url).value
///     return try await readBody(response).value
/// }
///
/// Task { @ReactorActor in
///     print(try await fetch("http://127.0.0.1:8080/"))
///     reactor.stop()
/// }
/// reactor.run()
/// ```
///
/// Bound to the global reactor because a global actor has one executor for the whole process; it is
/// meant for executables and examples, as the global reactor is. Library code takes its isolation
/// from its caller instead (`Deferred.value` and `Deferred.fromTask` work in whatever actor calls them), and
/// tests, which each run their own reactor, isolate their code to an actor of their own whose
/// executor is `ReactorExecutor(theirReactor)`.
///
/// From callback-style code, which runs on the reactor's thread but outside any task,
/// `ReactorActor.assumeIsolated { _ in … }` enters isolated code synchronously (it traps on another
/// thread).
@globalActor
public actor ReactorActor {
    /// The one instance of the global actor.
    public static let shared = ReactorActor()

    private static let executor = ReactorExecutor(reactor)

    /// The executor of the global `reactor`.
    public static var sharedUnownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        Self.sharedUnownedExecutor
    }

    private init() {}
}

extension ReactorActor {
    /// Runs `operation` as `@ReactorActor` code, synchronously, from code that is already on the
    /// global reactor's thread but not isolated to it (a reactor callback, `callWhenRunning`).
    ///
    /// Traps when called on another thread.
    public static func assumeIsolated<T: Sendable>(
        _ operation: @ReactorActor () throws -> T, file: StaticString = #fileID, line: UInt = #line
    ) rethrows -> T {
        shared.preconditionIsolated("ReactorActor.assumeIsolated: not on the reactor's thread", file: file, line: line)
        // The check above is what the compiler cannot do: it proves this thread is the actor's.
        // Swift has no safe way to call a global-actor closure from a proven-isolated synchronous
        // context (`Actor.assumeIsolated` grants the instance's isolation, not the global actor's);
        // the standard library's `MainActor.assumeIsolated` makes the same cast. Not a performance
        // escape: it removes only the isolation from the closure's type.
        return try withoutActuallyEscaping(operation) { isolated in
            try unsafeBitCast(isolated, to: (() throws -> T).self)()
        }
    }
}
