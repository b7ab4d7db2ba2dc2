package dev.cmwq.workqueue;

/**
 * An explicit blocking section opened by {@link Workqueues#beginBlocking()}: while it is open, the
 * current worker counts as sleeping, so its pool may start other items at once. Close it exactly
 * once, best with try-with-resources. Outside a worker thread it does nothing.
 */
public final class Blocking implements AutoCloseable {
    static final Blocking NONE = new Blocking(null);

    private final Worker worker;
    private boolean closed;

    Blocking(Worker worker) {
        this.worker = worker;
    }

    @Override
    public void close() {
        if (worker != null && !closed) {
            closed = true;
            worker.endBlocking();
        }
    }
}
