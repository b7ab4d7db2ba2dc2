package dev.cmwq.workqueue.spring;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Calling the annotated bean method queues it as a work item on a workqueue instead of running it
 * in the caller.
 *
 * <p>The kernel's work item semantics hold per (bean, method, arguments): arguments that are
 * {@code equals} (arrays compared deeply) name the same item. A call while that item is pending
 * is absorbed; a call while it runs makes it run once more afterwards; it never runs concurrently
 * with itself. {@link #coalesce()} {@code = false} makes every call a fresh item instead.
 *
 * <p>Return types: {@code void}; {@code boolean} (true if queued, false if absorbed, as
 * {@code queue_work()} returns); {@code CompletableFuture<T>} (or {@code CompletionStage<T>},
 * {@code Future<T>}), completed with that execution's result or exception; calls absorbed into a
 * pending item share its future. A {@code CompletableFuture} method returns its result with
 * {@code CompletableFuture.completedFuture(value)}, as an {@code @Async} method does. Any other
 * return type is refused when the context starts.
 *
 * <p>As with {@code @Async}, the call goes through the bean's proxy: a call from the bean to its
 * own method ({@code this.flush()}) runs at once, in the caller, without queueing. Inject the
 * bean into itself (or call through another bean) to queue from inside it.
 *
 * <p>The caller's MDC and, with {@code io.micrometer:context-propagation} present, its
 * observation and tracing context (every registered {@code ThreadLocalAccessor}) are captured
 * when the item is queued and restored while it runs.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface WorkItem {

    /**
     * The workqueue: a configured queue's name or a system queue's ({@code system_wq},
     * {@code system_unbound_wq}, ... or the kernel's {@code events}, {@code events_unbound}, ...).
     * Placeholders ({@code ${...}}) are resolved.
     */
    String queue() default "system_wq";

    /**
     * Queue as delayed work after this long ({@code queue_delayed_work()}), e.g. {@code 500ms},
     * {@code 2s} or a placeholder. Empty for none.
     */
    String delay() default "";

    /**
     * Debounce ({@code mod_delayed_work()}): each call while the item is pending moves its timer to
     * {@link #delay()} from now, so the item runs once, {@code delay} after the last call of a burst.
     * Needs a delay.
     */
    boolean debounce() default false;

    /**
     * Whether calls with equal arguments share one work item (the kernel's semantics, the default).
     * With {@code false} every call queues a fresh item, which may run concurrently with others.
     */
    boolean coalesce() default true;
}
