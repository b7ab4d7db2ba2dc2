package dev.cmwq.workqueue;

import java.util.concurrent.locks.LockSupport;

/**
 * An engine thread with a start/stop life of its own (the sleep monitor, the watchdog): made by the
 * engine's thread factory, stopped by a volatile flag and an unpark. {@code thread} and
 * {@code stopped} are volatile.
 */
abstract class EngineDaemon implements Runnable {
    private volatile Thread thread;
    private volatile boolean stopped;

    /** Starts the thread unless {@link #enabled()} is false. */
    final void start(String name, WorkerThreadFactory factory) {
        if (!enabled()) {
            return;
        }
        Thread t = factory.newThread(name, this);
        thread = t;
        t.start();
    }

    abstract boolean enabled();

    final void stop() {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    final boolean stopped() {
        return stopped;
    }

    final Thread thread() {
        return thread;
    }
}
