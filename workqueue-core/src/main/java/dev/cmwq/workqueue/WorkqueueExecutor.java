package dev.cmwq.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@link Workqueue#asExecutor()}: an {@link java.util.concurrent.ExecutorService} view of one
 * workqueue. Every task is a fresh {@link Work} item (so equal tasks are never absorbed).
 * {@code Future.cancel} of a task that has not started takes it off the queue. {@link #shutdown()}
 * stops accepting tasks and lets the view terminate when its own tasks are done; the workqueue
 * itself is untouched, so a system queue keeps serving everyone else.
 *
 * <h2>Protocol</h2>
 * The view's state is a count of accepted tasks not yet finished with a {@link #SHUTDOWN} bit, as
 * {@code ThreadPoolExecutor}'s {@code ctl}, but striped by CPU: {@code ctl} holds one such word per
 * stripe, each on its own cache lines, and a task is counted on the stripe of the CPU its producer
 * runs on (kept in {@code Task.stripe}) and counted out on the same one. A bound queue runs the
 * task on that CPU too, so producers and workers on different CPUs never write the same line (one
 * shared word cost the view half its throughput from four producers on two CPUs).
 * <ul>
 *   <li>A task is accepted by a CAS on its stripe that refuses once the stripe's bit is set.</li>
 *   <li>{@link #shutdown()} sets the bit on every stripe, in index order, then looks whether all
 *       are terminated. Once a stripe has its bit its count only falls, so a stripe seen at
 *       {@code SHUTDOWN} (bit set, count 0) stays there, and "terminated" (every stripe at
 *       {@code SHUTDOWN}, {@link #isTerminated()}) is final once seen.</li>
 *   <li>A task is counted out exactly once, by whichever ends it: its run, a successful cancel, or
 *       a failed queueing. The work item's own PENDING protocol makes these exclusive for a
 *       fresh item queued once: a cancel succeeds only while the item waits on a list, so it
 *       never runs; a refused queueing clears PENDING itself, so no cancel takes it (see
 *       {@code Work.tryGrabPending} and {@code Workqueue.queueWork}). The one whose
 *       decrement leaves its stripe at {@code SHUTDOWN} then looks at all stripes. Of the last
 *       decrement and the last bit set, whichever comes later sees every stripe at
 *       {@code SHUTDOWN} (each is a volatile read-modify-write followed by volatile reads), and
 *       notifies the termination waiters on the view's monitor, which carries only that wait.</li>
 * </ul>
 * A task carries no state of its own: {@link #shutdownNow()} interrupts its running tasks through
 * the pools, under each pool's lock, where a worker's current item is known
 * ({@code WorkerPool.interruptRunning}); the worker clears the interrupt under that lock after
 * the item, so an interrupt never reaches the worker's next item. Two atomics per task, both on
 * its stripe.
 * <p>
 * The view keeps no set of its tasks: {@link #shutdownNow()} finds them on the workqueue's own
 * lists (under each pool's lock), as the kernel finds a queue's items.
 */
final class WorkqueueExecutor extends AbstractExecutorService {
    private static final long SHUTDOWN = 1L << 62;

    private final Workqueue wq;
    private final String taskName;
    /**
     * The stripes: stripe {@code i} at index {@code (i + 1) * STRIDE} (padding on both sides), read
     * and written through {@link #CTL} only.
     */
    private final long[] ctl;
    /** Stripes - 1: a power of two, at most {@link #MAX_STRIPES}, covering the engine's CPUs. */
    private final int stripeMask;
    private static final int MAX_STRIPES = 64;
    /** Longs between two stripes: 128 bytes, so that neighbours share neither a line nor a prefetched pair. */
    private static final int STRIDE = 16;
    private static final VarHandle CTL = MethodHandles.arrayElementVarHandle(long[].class);
    WorkqueueExecutor(Workqueue wq) {
        this.wq = wq;
        this.taskName = "executor-task@" + wq.name();
        int stripes = 1;
        while (stripes < Math.min(wq.engine.cpus, MAX_STRIPES)) {
            stripes <<= 1;
        }
        this.stripeMask = stripes - 1;
        this.ctl = new long[(stripes + 2) * STRIDE];
    }

    private static int slot(int stripe) {
        return (stripe + 1) * STRIDE;
    }

    /** One task = one work item; remembers its future so cancel can unqueue it. */
    private final class Task extends Work {
        final Runnable command;
        /** The {@code ctl} stripe the task is counted on. */
        final int stripe;

        Task(Runnable command, int stripe) {
            super(taskName);
            this.command = command;
            this.stripe = stripe;
        }

        @Override
        protected void run() {
            try {
                command.run();
            } finally {
                finished(this);
            }
        }

        WorkqueueExecutor view() {
            return WorkqueueExecutor.this;
        }
    }

    /** A future whose cancel also takes the not-yet-started work item off the queue. */
    private final class WorkFuture<T> extends FutureTask<T> {
        volatile Task task;

        WorkFuture(Callable<T> c) {
            super(c);
        }

        WorkFuture(Runnable r, T v) {
            super(r, v);
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            Task t = task;
            if (cancelled && t != null && t.cancel()) {
                finished(t);
            }
            return cancelled;
        }
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Runnable runnable, T value) {
        return new WorkFuture<>(runnable, value);
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Callable<T> callable) {
        return new WorkFuture<>(callable);
    }

    @Override
    public void execute(Runnable command) {
        int cpu = wq.engine.currentCpu();
        Task t = new Task(command, cpu & stripeMask);
        if (command instanceof WorkFuture<?> f) {
            f.task = t;
        }
        int slot = slot(t.stripe);
        long c;
        do {
            c = (long) CTL.getVolatile(ctl, slot);
            if ((c & SHUTDOWN) != 0) {
                throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
            }
        } while (!CTL.weakCompareAndSet(ctl, slot, c, c + 1));
        boolean queued;
        try {
            queued = wq.queueFromCpu(cpu, t); // wq.queue(t), without reading the CPU again
        } catch (IllegalStateException | IllegalArgumentException e) {
            finished(t);
            throw new RejectedExecutionException(e.getMessage(), e);
        }
        if (!queued) { // a fresh item is never pending already; defensive: count it out and say so
            finished(t);
            throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
        }
    }

    /** Counts {@code t} out: called once per task, by whichever ends it (see the class comment). */
    private void finished(Task t) {
        if ((long) CTL.getAndAdd(ctl, slot(t.stripe), -1L) - 1 == SHUTDOWN) {
            notifyIfTerminated();
        }
    }

    private void notifyIfTerminated() {
        if (isTerminated()) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    @Override
    public void shutdown() {
        for (int i = 0; i <= stripeMask; i++) {
            CTL.getAndBitwiseOr(ctl, slot(i), SHUTDOWN);
        }
        notifyIfTerminated();
    }

    /** Cancels the tasks that have not started (returning them) and interrupts running ones. */
    @Override
    public List<Runnable> shutdownNow() {
        shutdown();
        List<Work> queued = new ArrayList<>();
        wq.collectInFlight(queued, new ArrayList<>());
        List<Runnable> notStarted = new ArrayList<>();
        // Cancel every waiting task first: an interrupted task ending early must not let the queue
        // start one of ours that we were about to cancel. A task whose cancel fails has started
        // since we looked: the interrupts below find it if it still runs.
        for (Work w : queued) {
            if (w instanceof Task t && t.view() == this && t.cancel()) {
                notStarted.add(t.command);
                finished(t);
            }
        }
        wq.interruptRunning(w -> w instanceof Task t && t.view() == this);
        return notStarted;
    }

    @Override
    public boolean isShutdown() {
        return ((long) CTL.getVolatile(ctl, slot(stripeMask)) & SHUTDOWN) != 0; // the last stripe marked
    }

    @Override
    public boolean isTerminated() {
        for (int i = 0; i <= stripeMask; i++) {
            if ((long) CTL.getVolatile(ctl, slot(i)) != SHUTDOWN) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        synchronized (this) {
            while (!isTerminated()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }
    }

    @Override
    public String toString() {
        long left = 0;
        for (int i = 0; i <= stripeMask; i++) {
            left += (long) CTL.getVolatile(ctl, slot(i)) & ~SHUTDOWN;
        }
        return "ExecutorService view of " + wq + (isShutdown() ? " (shut down, " + left + " tasks left)" : "");
    }
}
