package dev.cmwq.workqueue;

import java.util.function.Consumer;

/**
 * Points where the engine's own tests hold a race window open, so that a race the code must
 * survive happens every time instead of once in a million runs. They exist only when the JVM runs
 * with {@code -Dcmwq.test-hooks=true} (the core module's Surefire configuration sets it): otherwise
 * {@link #ENABLED} is a false constant and the JIT removes every call.
 *
 * <p>Each hook is a volatile field set by a test and read by the engine's thread at that point.
 */
final class TestHooks {
    static final boolean ENABLED = Boolean.getBoolean("cmwq.test-hooks");

    /** Called by a queueing after its lock-free checks passed, just before it pushes the item on the intake. */
    static volatile Consumer<Work> beforeIntakePush;
    /** Called by a queueing just after it pushed the item on the intake, before it re-checks. */
    static volatile Consumer<Work> afterIntakePush;

    /**
     * Called by a worker after it took an item and let go of the pool lock, before it publishes the
     * execution ({@code execSeq}) and calls the function: the worker counts as running, nothing of
     * its runs as executing. {@code pokes} says whether the worker will poke the sleep monitor
     * once it published the execution (the first item after its pool's running count rose for it,
     * with CPU-hog detection on): a monitor parked for good is then told of this item after the hook.
     */
    static volatile ExecuteHook beforeExecute;

    /** {@link #beforeExecute}'s hook. */
    @FunctionalInterface
    interface ExecuteHook {
        void accept(Work w, boolean pokes);
    }

    /**
     * Called by a worker after the item's function returned and the worker cleared its interrupt
     * status, before it takes the pool lock again: the item is still its {@code currentWork()}.
     */
    static volatile Consumer<Work> afterExecute;

    /** Makes queueing skip its try of the pool lock and push on the intake (so the two hooks above are reached). */
    static volatile boolean forceIntake;

    private TestHooks() {
    }

    static boolean forceIntake() {
        return ENABLED && forceIntake;
    }

    static void beforeIntakePush(Work w) {
        if (ENABLED) {
            call(beforeIntakePush, w);
        }
    }

    static void beforeExecute(Work w, boolean pokes) {
        if (ENABLED) {
            ExecuteHook hook = beforeExecute;
            if (hook != null) {
                hook.accept(w, pokes);
            }
        }
    }

    static void afterExecute(Work w) {
        if (ENABLED) {
            call(afterExecute, w);
        }
    }

    static void afterIntakePush(Work w) {
        if (ENABLED) {
            call(afterIntakePush, w);
        }
    }

    private static void call(Consumer<Work> hook, Work w) {
        if (hook != null) {
            hook.accept(w);
        }
    }
}
