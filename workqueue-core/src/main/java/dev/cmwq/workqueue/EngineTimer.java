package dev.cmwq.workqueue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's one timer for delayed work (the kernel's timer wheel role): a binary min-heap of
 * armed {@link DelayedWork} items ordered by deadline, served by one thread that sleeps until the
 * earliest deadline and then queues the item on its workqueue ({@code delayed_work_timer_fn}).
 *
 * <p>The items are the heap's nodes: each knows its own index, so arming, disarming and moving a
 * timer are O(log n) with no allocation, and an armed item costs one array slot (4 or 8 bytes)
 * beyond its own fields. The thread starts with the engine and parks (no CPU) when nothing is
 * armed. Engine-internal timers (each pool's mayday timer) share the heap.
 *
 * <p>{@code lock} guards the heap, every item's {@code deadline}/{@code heapIndex}, and each
 * workqueue's {@code nrArmed}. It is never held while queueing an item; it may be taken while
 * holding pool locks (by drain's final check), never the other way round.
 */
final class EngineTimer implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(EngineTimer.class);

    private final Workqueues engine;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private DelayedWork[] heap = new DelayedWork[64];
    private int size;
    private Thread thread;
    private boolean stopped;

    EngineTimer(Workqueues engine) {
        this.engine = engine;
    }

    /** Starts the timer thread (with the engine: pools' mayday timers need it from the start). */
    void start() {
        lock.lock();
        try {
            thread = engine.threadFactory.newThread(engine.name() + "-timer", this);
            thread.start();
        } finally {
            lock.unlock();
        }
    }

    /** Arms {@code dw} (PENDING owned by the caller) to fire at {@code deadline} (nanoTime). */
    void arm(DelayedWork dw, long deadline) {
        lock.lock();
        try {
            if (stopped || (dw.wq != null && dw.wq.state == Workqueue.DESTROYED)) {
                dw.clearPending();
                throw new IllegalStateException((stopped ? "workqueue engine is shut down" : "workqueue '" + dw.wq.name() + "' is destroyed")
                        + "; delayed work item '" + dw.name() + "' refused");
            }
            dw.deadline = deadline;
            if (dw.wq != null) {
                dw.wq.nrArmed++;
            }
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            dw.heapIndex = size;
            heap[size++] = dw;
            siftUp(dw.heapIndex);
            if (heap[0] == dw) {
                changed.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    /** {@code del_timer()}: true if {@code dw} was armed (its PENDING now belongs to the caller). */
    boolean disarm(DelayedWork dw) {
        lock.lock();
        try {
            int i = dw.heapIndex;
            if (i < 0) {
                return false;
            }
            removeAt(i);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * True if nothing of {@code wq} is armed; then, if {@code destroy}, marks the queue destroyed
     * under this lock, so that no arm() can slip in between the check and the mark.
     */
    boolean markIfNoneArmed(Workqueue wq, boolean destroy) {
        lock.lock();
        try {
            if (wq.nrArmed > 0) {
                return false;
            }
            if (destroy) {
                wq.state = Workqueue.DESTROYED;
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The items of {@code wq} whose timers are armed, for shutdown's report of what never ran. */
    List<String> describeArmed(Workqueue wq) {
        List<String> out = new ArrayList<>();
        long now = System.nanoTime();
        lock.lock();
        try {
            for (int i = 0; i < size && wq.nrArmed > 0; i++) {
                if (heap[i].wq == wq) {
                    out.add(heap[i].name() + " (delayed, timer due in "
                            + Math.max(0, (heap[i].deadline - now) / 1_000_000) + " ms)");
                }
            }
        } finally {
            lock.unlock();
        }
        return out;
    }

    /** Fires every armed item of {@code wq} now (for drain and shutdown). */
    void fireAll(Workqueue wq) {
        List<DelayedWork> due = new ArrayList<>();
        lock.lock();
        try {
            if (wq.nrArmed == 0) {
                return;
            }
            for (int i = 0; i < size; i++) {
                if (heap[i].wq == wq) {
                    due.add(heap[i]);
                }
            }
            for (DelayedWork dw : due) {
                removeAt(dw.heapIndex); // by its current index: removals move other nodes
            }
        } finally {
            lock.unlock();
        }
        for (DelayedWork dw : due) {
            fire(dw);
        }
    }

    /**
     * An engine-internal timer on the same heap (e.g. a pool's mayday timer): not a work item, no
     * PENDING protocol, no workqueue; {@link #expired()} runs on the timer thread, no lock held.
     */
    abstract static class InternalTimer extends DelayedWork {
        InternalTimer(String name) {
            super(name);
        }

        abstract void expired();

        @Override
        protected final void run() {
            throw new IllegalStateException("internal timer " + name() + " is not a work item");
        }
    }

    /** Arms an internal timer (re-arms it if armed). */
    void armInternal(InternalTimer t, long deadline) {
        lock.lock();
        try {
            if (t.heapIndex >= 0) {
                removeAt(t.heapIndex);
            }
        } finally {
            lock.unlock();
        }
        try {
            arm(t, deadline);
        } catch (IllegalStateException stopped) {
            // engine shutting down: nothing left to rescue
        }
    }

    /** Items still armed; for reports. */
    int size() {
        lock.lock();
        try {
            return size;
        } finally {
            lock.unlock();
        }
    }

    void stop() {
        lock.lock();
        try {
            stopped = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    Thread thread() {
        lock.lock();
        try {
            return thread;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void run() {
        for (;;) {
            DelayedWork due;
            lock.lock();
            try {
                for (;;) {
                    if (stopped) {
                        return;
                    }
                    if (size == 0) {
                        changed.awaitUninterruptibly();
                        continue;
                    }
                    long wait = heap[0].deadline - System.nanoTime();
                    if (wait <= 0) {
                        due = heap[0];
                        removeAt(0);
                        break;
                    }
                    try {
                        changed.awaitNanos(wait);
                    } catch (InterruptedException e) {
                        // keep serving; stop() is the way to end the timer
                    }
                }
            } finally {
                lock.unlock();
            }
            fire(due);
        }
    }

    /** {@code delayed_work_timer_fn()}: queue the item whose timer expired (PENDING is owned). */
    private void fire(DelayedWork dw) {
        if (dw instanceof InternalTimer t) {
            t.expired();
            return;
        }
        try {
            dw.wq.queueAccepted(dw.cpu, dw);
        } catch (IllegalStateException refused) {
            log.error("workqueue: delayed work item '{}' fired but could not be queued: {}", dw.name(), refused.getMessage());
        }
    }

    // ---- heap, lock held ------------------------------------------------------------------

    private void removeAt(int i) {
        DelayedWork removed = heap[i];
        removed.heapIndex = -1;
        if (removed.wq != null) {
            removed.wq.nrArmed--;
        }
        int last = --size;
        if (i != last) {
            DelayedWork moved = heap[last];
            heap[i] = moved;
            moved.heapIndex = i;
            heap[last] = null;
            siftDown(i);
            if (heap[i] == moved) {
                siftUp(i);
            }
        } else {
            heap[last] = null;
        }
        if (i == 0) {
            changed.signal();
        }
    }

    private void siftUp(int i) {
        DelayedWork x = heap[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            DelayedWork p = heap[parent];
            if (x.deadline - p.deadline >= 0) {
                break;
            }
            heap[i] = p;
            p.heapIndex = i;
            i = parent;
        }
        heap[i] = x;
        x.heapIndex = i;
    }

    private void siftDown(int i) {
        DelayedWork x = heap[i];
        int half = size >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            DelayedWork c = heap[child];
            int right = child + 1;
            if (right < size && heap[right].deadline - c.deadline < 0) {
                child = right;
                c = heap[child];
            }
            if (x.deadline - c.deadline <= 0) {
                break;
            }
            heap[i] = c;
            c.heapIndex = i;
            i = child;
        }
        heap[i] = x;
        x.heapIndex = i;
    }
}
