package dev.cmwq.workqueue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
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
 * <p>{@code tasks} (the view's queued or running items) is a concurrent set; {@code shutdown} is
 * volatile. Accepting a task and shutting down are serialized by the view's monitor, which also
 * carries the termination wait.
 */
final class WorkqueueExecutor extends AbstractExecutorService {
    private final Workqueue wq;
    private final Set<Task> tasks = ConcurrentHashMap.newKeySet();
    private volatile boolean shutdown;

    WorkqueueExecutor(Workqueue wq) {
        this.wq = wq;
    }

    /** One task = one work item; remembers its future so cancel can unqueue it. */
    private final class Task extends Work {
        final Runnable command;
        private Thread runningOn; // guarded by the task's monitor

        Task(Runnable command) {
            super("executor-task@" + wq.name());
            this.command = command;
        }

        @Override
        protected void run() {
            synchronized (this) {
                runningOn = Thread.currentThread();
            }
            try {
                command.run();
            } finally {
                synchronized (this) {
                    runningOn = null; // an interrupt can only land while the command runs
                }
                finished(this);
            }
        }

        synchronized void interruptIfRunning() {
            if (runningOn != null) {
                runningOn.interrupt();
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
        synchronized (this) {
            if (shutdown) {
                throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
            }
            tasks.add(t);
        }
        boolean queued;
        try {
            queued = wq.queue(t);
        } catch (IllegalStateException | IllegalArgumentException e) {
            finished(t);
            throw new RejectedExecutionException(e.getMessage(), e);
        }
        if (!queued) { // a racing shutdownNow() held the fresh item's PENDING bit while cancelling it
            finished(t);
            throw new RejectedExecutionException("executor view of workqueue '" + wq.name() + "' is shut down");
        }
    }

    private void finished(Task t) {
        if (tasks.remove(t) && shutdown && tasks.isEmpty()) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    @Override
    public void shutdown() {
        synchronized (this) {
            shutdown = true;
            if (tasks.isEmpty()) {
                notifyAll();
            }
        }
    }

    /** Cancels the tasks that have not started (returning them) and interrupts running ones. */
    @Override
    public List<Runnable> shutdownNow() {
        shutdown();
        List<Runnable> notStarted = new ArrayList<>();
        List<Task> running = new ArrayList<>();
        // Cancel every waiting task first: an interrupted task ending early must not let the queue
        // start one of ours that we were about to cancel.
        for (Task t : tasks) {
            if (t.cancel()) {
                notStarted.add(t.command);
                finished(t);
            } else {
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
        return shutdown;
    }

    @Override
    public boolean isTerminated() {
        return shutdown && tasks.isEmpty();
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
        return "ExecutorService view of " + wq + (shutdown ? " (shut down, " + tasks.size() + " tasks left)" : "");
    }
}
