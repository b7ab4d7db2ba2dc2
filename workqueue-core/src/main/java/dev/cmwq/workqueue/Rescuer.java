package dev.cmwq.workqueue;

import java.util.ArrayDeque;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The rescuer of a MEM_RECLAIM workqueue ({@code rescuer_thread()}): a thread reserved for the
 * queue from its creation, named {@code kworker/R-<queue>}, so the queue always has an execution
 * context even when no worker thread can be created. A pool that cannot get a worker sends maydays
 * (see {@link WorkerPool}); the rescuer attaches to each such pool in turn as a temporary worker
 * (never counted as running), takes its own queue's items off the pool's worklist and runs them,
 * re-arms the mayday while the pool still lacks workers, and kicks the pool before leaving.
 *
 * <p>The mayday list and every pwq's {@code onMaydayList} flag are guarded by the engine's
 * {@code maydayLock} (the kernel's {@code wq_mayday_lock}), which is taken inside pool locks and
 * never holds one. {@code stopped} is volatile.
 */
final class Rescuer implements Runnable {
    private final Workqueue wq;
    private final ReentrantLock maydayLock;
    private final ArrayDeque<PoolWorkqueue> maydays = new ArrayDeque<>();
    private final Thread thread;
    private volatile boolean stopped;

    Rescuer(Workqueue wq) {
        this.wq = wq;
        this.maydayLock = wq.engine.maydayLock;
        Thread t;
        try {
            t = wq.engine.threadFactory.newThread("kworker/R-" + wq.name(), this);
            t.start();
        } catch (RuntimeException | Error e) {
            throw new IllegalStateException("workqueue '" + wq.name() + "' (MEM_RECLAIM): cannot create its rescuer thread: " + e, e);
        }
        this.thread = t;
    }

    Thread thread() {
        return thread;
    }

    /** {@code send_mayday()}, under the pool lock of {@code pwq}. */
    void sendMayday(PoolWorkqueue pwq) {
        maydayLock.lock();
        try {
            if (pwq.onMaydayList || stopped) {
                return;
            }
            pwq.onMaydayList = true;
            maydays.addLast(pwq);
            pwq.stats[PoolWorkqueue.STAT_MAYDAY]++;
        } finally {
            maydayLock.unlock();
        }
        LockSupport.unpark(thread);
    }

    void stop() {
        stopped = true;
        LockSupport.unpark(thread);
    }

    @Override
    public void run() {
        while (true) {
            PoolWorkqueue pwq;
            maydayLock.lock();
            try {
                pwq = maydays.pollFirst();
                if (pwq != null) {
                    pwq.onMaydayList = false;
                }
            } finally {
                maydayLock.unlock();
            }
            if (pwq != null) {
                rescue(pwq);
            } else if (stopped) {
                return;
            } else {
                LockSupport.park(this);
            }
        }
    }

    private void rescue(PoolWorkqueue pwq) {
        WorkerPool pool = pwq.pool;
        Worker r = Worker.rescuer(pool, Thread.currentThread());
        Worker.CURRENT.set(r);
        pool.placeCurrentThread(); // worker_attach_to_pool(): the rescuer takes the pool's CPUs and nice
        pool.lock.lock();
        try {
            pool.workers.add(r);
            Work w = pool.worklist.first();
            while (w != null) {
                Work next = w.next;
                if (w.pwq == pwq) {
                    r.assignWorkLocked(w);
                }
                w = next;
            }
            if (!r.scheduled.isEmpty()) {
                r.processScheduledWorksLocked();
            }
            // Still short of workers with more of ours waiting: stay on call for this pool.
            if (pool.needToCreateWorker()) {
                for (Work p = pool.worklist.first(); p != null; p = p.next) {
                    if (p.pwq == pwq) {
                        sendMayday(pwq);
                        break;
                    }
                }
            }
            pool.workers.remove(r);
            pool.kickLocked(); // leave the regular workers something to do, if any are left
        } finally {
            pool.lock.unlock();
            Worker.CURRENT.remove();
        }
    }

    @Override
    public String toString() {
        return "rescuer of " + wq.name();
    }
}
