package dev.cmwq.workqueue;

import java.util.function.Consumer;

/**
 * A work item with a timer, the kernel's {@code delayed_work}. Queue it with
 * {@link Workqueue#queueDelayed}; debounce it with {@link Workqueue#modDelayed}. While the timer is
 * armed the item is pending: {@link #cancel()} disarms it, {@link #flush()} fires it at once and
 * waits for the execution.
 *
 * <p>Fields: {@code deadline} and {@code heapIndex} are guarded by the engine timer's lock;
 * {@code wq} and {@code cpu} are written by the PENDING owner before arming and read by the timer
 * after it took the item off the heap (the timer lock orders the two).
 */
public class DelayedWork extends Work {
    long deadline;
    int heapIndex = -1;
    Workqueue wq;
    int cpu = Workqueues.WORK_CPU_UNBOUND;

    public DelayedWork(Runnable fn) {
        super(nameOf(fn), fn);
    }

    public DelayedWork(String name, Runnable fn) {
        super(name, fn);
    }

    /** For subclasses that override {@link #run()}. */
    protected DelayedWork(String name) {
        super(name);
    }

    private DelayedWork(String name, Consumer<Work> fn) {
        super(name, fn, true);
    }

    /** A delayed item whose function receives the item itself (for periodic re-arming). */
    public static DelayedWork create(String name, Consumer<DelayedWork> fn) {
        return new DelayedWork(name, w -> fn.accept((DelayedWork) w));
    }

    /**
     * {@code flush_delayed_work()}: if the timer is armed, fires it now (the item is queued at once
     * on its workqueue), then waits for the execution like {@link Work#flush()}.
     */
    @Override
    public boolean flush() {
        Workqueue q = wq;
        boolean fired = false;
        if (q != null && q.engine.timer().disarm(this)) {
            q.queueAccepted(cpu, this);
            fired = true;
        }
        // A fired item was pending: this flush is waiting for it, even if a worker finished it
        // before super.flush() looked.
        return super.flush() || fired;
    }

    /** Disarms the timer first, then looks on the queues. */
    @Override
    int tryGrabPending() {
        Workqueue q = wq;
        if (q != null && q.engine.timer().disarm(this)) {
            cancelledGen = queuedGen;
            wakeFlushers();
            return 1;
        }
        return super.tryGrabPending();
    }
}
