package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueue;
import java.util.concurrent.ExecutorService;
import org.springframework.core.task.AsyncTaskExecutor;

/**
 * A workqueue's executor view as Spring's {@link AsyncTaskExecutor}: each task is a fresh work
 * item on the queue, run with the MDC and observation context of the thread that submitted it.
 * Made the {@code applicationTaskExecutor} only when {@code workqueue.task-executor.queue} is set.
 */
public class WorkqueueTaskExecutor implements AsyncTaskExecutor {

    private final Workqueue workqueue;
    private final ExecutorService executor;

    public WorkqueueTaskExecutor(Workqueue workqueue) {
        this.workqueue = workqueue;
        this.executor = workqueue.asExecutor();
    }

    @Override
    public void execute(Runnable task) {
        executor.execute(CapturedContext.wrap(task));
    }

    public Workqueue getWorkqueue() {
        return workqueue;
    }

    @Override
    public String toString() {
        return "WorkqueueTaskExecutor[" + workqueue.name() + "]";
    }
}
