package dev.cmwq.workqueue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@link Workqueue#asExecutor()}: an {@link java.util.concurrent.ExecutorService} view of one
 * workqueue. Every task is a fresh {@link Work} item (so equal tasks are never absorbed).
 * {@code Future.cancel} of a task that has not started takes it off the queue. {@link #shutdown()}
 * stops accepting tasks and lets the view terminate when its own tasks are done; the workqueue
 * itself is untouched, so a system queue keeps serving everyone else.
 *
 * <h2>Protocol</h2>
 * {@code ctl} is the view's state in one atomic word, as {@code ThreadPoolExecutor}'s: the
 * {@link #SHUTDOWN} bit and the number of accepted tasks not yet finished. A task is accepted by a
 * CAS that refuses once the bit is set, so after shutdown the count only falls, and "terminated"
 * ({@code ctl == SHUTDOWN}) is final. A task is counted out exactly once: its {@code state} is
 * taken to FINISHED by CAS by whichever ends it (its run, a cancel, a failed queueing; see
 * {@link Task}). The view keeps
 * no set of its tasks: {@link #shutdownNow()} finds them on the workqueue's own lists (under each
 * pool's lock), as the kernel finds a queue's items. The view's monitor carries only the
 * termination wait: whoever takes the count to zero after shutdown, or shuts down with nothing
 * left, notifies.
 */
final class WorkqueueExecutor extends AbstractExecutorService {
    private static final long SHUTDOWN = 1L << 62;

    private final Workqueue wq;
    private final String taskName;
    private final AtomicLong ctl = new AtomicLong();
    /** Values of {@code Task.state}. */
    private static final int NEW = 0;
    private static final int RUNNING = 1;
    private static final int INTERRUPTING = 2;
    private static final int FINISHED = 3;
    private static final AtomicIntegerFieldUpdater<WorkqueueExecutor.Task> STATE =
            AtomicIntegerFieldUpdater.newUpdater(WorkqueueExecutor.Task.class, "state");

    WorkqueueExecutor(Workqueue wq) {
        this.wq = wq;
        this.taskName = "executor-task@" + wq.name();
    }

    /**
     * One task = one work item; remembers its future so cancel can unqueue it.
     *
     * <p>{@code state} (through {@link #STATE}) is the task's life: {@link #NEW}, then
     * {@link #RUNNING} (a release store, {@code lazySet}, by the worker, after it wrote {@code runningOn}), then
     * {@link #FINISHED}, taken by CAS exactly once by whichever ends it (its run, a cancel, a failed
     * queueing), which counts it out. {@link #shutdownNow()} interrupts a running task by taking it
     * from RUNNING to {@link #INTERRUPTING} by CAS, interrupting {@code runningOn} and storing
     * RUNNING back; the run's end waits out that window, so an interrupt lands only while the task
     * is still running (and the worker clears a leftover one after the item). No lock per task.
     */
    private final class Task extends Work {
        final Runnable command;
        /** The worker thread running the command; written before the RUNNING store, read after a CAS from it. */
        private Thread runningOn;
        volatile int state; // through STATE

        Task(Runnable command) {
            super(taskName);
            this.command = command;
        }

        @Override
        protected void run() {
            runningOn = Thread.currentThread();
            STATE.lazySet(this, RUNNING); // a release store
            try {
                command.run();
            } finally {
                finished(this);
            }
        }

        WorkqueueExecutor view() {
            return WorkqueueExecutor.this;
        }

        void interruptIfRunning() {
            if (state == RUNNING && STATE.compareAndSet(this, RUNNING, INTERRUPTING)) {
                try {
                    runningOn.interrupt();
                } finally {
                    state = RUNNING;
                }
            }
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
        Task t = new Task(command);
        if (command instanceof WorkFuture<?> f) {
            f.task = t;
        }
        long c;
        do {
            c = ctl.get();
            if ((c & SHUTDOWN) != 0) {
                throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
            }
        } while (!ctl.weakCompareAndSetVolatile(c, c + 1));
        boolean queued;
        try {
            queued = wq.queue(t);
        } catch (IllegalStateException | IllegalArgumentException e) {
            finished(t);
            throw new RejectedExecutionException(e.getMessage(), e);
        }
        if (!queued) { // a fresh item is never pending already; defensive: count it out and say so
            finished(t);
            throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
        }
    }

    /** Ends {@code t} (NEW or RUNNING to FINISHED, once) and counts it out. */
    private void finished(Task t) {
        for (;;) {
            int s = t.state;
            if (s == FINISHED) {
                return;
            }
            if (s == INTERRUPTING) {
                Thread.onSpinWait(); // shutdownNow() is interrupting the run: an instant
            } else if (STATE.compareAndSet(t, s, FINISHED)) {
                break;
            }
        }
        if (ctl.decrementAndGet() == SHUTDOWN) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    @Override
    public void shutdown() {
        long c = ctl.getAndUpdate(v -> v | SHUTDOWN);
        if (c == 0) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /** Cancels the tasks that have not started (returning them) and interrupts running ones. */
    @Override
    public List<Runnable> shutdownNow() {
        shutdown();
        List<Work> queued = new ArrayList<>();
        List<Work> runningItems = new ArrayList<>();
        wq.collectInFlight(queued, runningItems);
        List<Runnable> notStarted = new ArrayList<>();
        List<Task> running = new ArrayList<>();
        // Cancel every waiting task first: an interrupted task ending early must not let the queue
        // start one of ours that we were about to cancel.
        for (Work w : queued) {
            if (w instanceof Task t && t.view() == this) {
                if (t.cancel()) {
                    notStarted.add(t.command);
                    finished(t);
                } else {
                    running.add(t); // it started since we looked
                }
            }
        }
        for (Work w : runningItems) {
            if (w instanceof Task t && t.view() == this) {
                running.add(t);
            }
        }
        for (Task t : running) {
            t.interruptIfRunning(); // the worker clears a leftover interrupt after the item
        }
        return notStarted;
    }

    @Override
    public boolean isShutdown() {
        return (ctl.get() & SHUTDOWN) != 0;
    }

    @Override
    public boolean isTerminated() {
        return ctl.get() == SHUTDOWN;
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
        long c = ctl.get();
        return "ExecutorService view of " + wq + ((c & SHUTDOWN) != 0 ? " (shut down, " + (c & ~SHUTDOWN) + " tasks left)" : "");
    }
}
