import Deferreds

/// When, relative to a system event, a trigger runs. Twisted: the phases of `addSystemEventTrigger`.
public enum EventPhase: Sendable {
    /// First; a trigger may return a `Deferred` and the event waits until it fires.
    case before
    /// After every "before" trigger (and the deferreds they returned) finished.
    case during
    /// Last.
    case after
}

/// The reactor's life events. Twisted: `"startup"` and `"shutdown"`.
public enum SystemEvent: Sendable {
    /// `run()` started.
    case startup
    /// `stop()` was called (or SIGINT/SIGTERM arrived); the loop keeps turning until every
    /// shutdown trigger has run.
    case shutdown
}

/// Identifies a trigger, for `removeSystemEventTrigger`.
public struct TriggerID: Hashable, Sendable {
    let raw: Int
}

/// The triggers of each event and phase, and the firing of an event through its three phases.
package final class SystemEventTriggers {
    private struct Trigger {
        let id: Int
        let function: () -> Deferred<Void>?
    }

    private var triggers: [SystemEvent: [EventPhase: [Trigger]]] = [:]
    private var nextID = 0
    /// Reports a failure of a "before" trigger's deferred (the event goes on regardless).
    package var logError: (String, Failure) -> Void = { _, _ in }

    package init() {}

    package func add(
        _ phase: EventPhase, _ event: SystemEvent, _ function: @escaping () -> Deferred<Void>?
    ) -> TriggerID {
        nextID += 1
        triggers[event, default: [:]][phase, default: []].append(Trigger(id: nextID, function: function))
        return TriggerID(raw: nextID)
    }

    package func remove(_ id: TriggerID) {
        for (event, phases) in triggers {
            for (phase, list) in phases {
                triggers[event]?[phase] = list.filter { $0.id != id.raw }
            }
        }
    }

    package func removeAll() {
        triggers = [:]
    }

    /// Runs `event`'s triggers: "before" (waiting for the deferreds they return), then "during",
    /// then "after", then `completion`. Each phase's triggers are taken when the phase starts, so a
    /// trigger can add one to a later phase.
    package func fire(_ event: SystemEvent, completion: @escaping () -> Void) {
        let before = take(event, .before)
        var waits: [Deferred<Void>] = []
        for trigger in before {
            if let d = trigger.function() {
                waits.append(d.addErrback { [logError] failure in
                    logError("Error in a 'before \(event)' trigger:", failure)
                })
            }
        }
        let rest = { [self] in
            for trigger in take(event, .during) { _ = trigger.function() }
            for trigger in take(event, .after) { _ = trigger.function() }
            completion()
        }
        if waits.isEmpty {
            rest()
        } else {
            _ = DeferredList(waits).addCallback { _ in rest() }
        }
    }

    private func take(_ event: SystemEvent, _ phase: EventPhase) -> [Trigger] {
        let list = triggers[event]?[phase] ?? []
        triggers[event]?[phase] = nil
        return list
    }
}
