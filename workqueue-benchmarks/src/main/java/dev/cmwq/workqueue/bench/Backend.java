package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The executors the engine is measured against, behind one "submit this Runnable" call. The
 * cmwq backends queue a fresh {@link Work} per submission (a {@code Work} is one kernel work item:
 * queueing the same one while it is pending is absorbed), except {@code cmwq-executor}, which goes
 * through {@link Workqueue#asExecutor()} on a bound queue. {@code cmwq-unbound-cpu-strict} is an
 * unbound queue with the affinity scope {@code cpu} and {@code affinity_strict}: a pool per CPU,
 * its workers confined to that CPU, an item going to the pool of the CPU that queued it.
 */
abstract class Backend implements AutoCloseable {
    abstract void submit(Runnable task);

    @Override
    public abstract void close();

    static Backend create(String name) {
        return create(name, true);
    }

    /** Every backend name {@link #create} knows, in the benchmarks' order. */
    static final List<String> NAMES = List.of("cmwq-bound", "cmwq-unbound", "cmwq-unbound-cpu-strict", "cmwq-executor",
            "fjp-common", "tpe-fixed", "virtual");

    static Backend create(String name, boolean cpuAccounting) {
        Function<Workqueues, Workqueue> bound = e -> e.alloc("bench-bound", 0);
        return switch (name) {
            case "cmwq-bound" -> new Cmwq(cpuAccounting, bound);
            case "cmwq-unbound" -> new Cmwq(cpuAccounting, e -> e.alloc("bench-unbound", 0, WqFlag.UNBOUND));
            case "cmwq-unbound-cpu-strict" -> new Cmwq(cpuAccounting, e -> e.alloc("bench-unbound-cpu-strict",
                    Set.of(WqFlag.UNBOUND), 0, WorkqueueAttrs.defaults().withAffinityScope(AffinityScope.CPU).withAffinityStrict(true)));
            case "cmwq-executor" -> new Jdk(new Cmwq(cpuAccounting, bound).executor(), true);
            case "fjp-common" -> new Jdk(ForkJoinPool.commonPool(), false);
            case "tpe-fixed" -> new Jdk(Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors()), true);
            case "virtual" -> new Jdk(Executors.newVirtualThreadPerTaskExecutor(), true);
            default -> throw new IllegalArgumentException("backend '" + name + "' unknown; allowed: " + String.join(", ", NAMES));
        };
    }

    /** One work item per submission; the item's function is the task. */
    static final class Item extends Work {
        private final Runnable task;

        Item(Runnable task) {
            super("bench-item");
            this.task = task;
        }

        @Override
        protected void run() {
            task.run();
        }
    }

    static final class Cmwq extends Backend {
        final Workqueues engine;
        final Workqueue wq;

        /** An engine built with the defaults but {@code cpuAccounting}, and the queue {@code alloc} makes on it. */
        Cmwq(boolean cpuAccounting, Function<Workqueues, Workqueue> alloc) {
            engine = Workqueues.builder().name("bench").cpuAccounting(cpuAccounting).build();
            wq = alloc.apply(engine);
        }

        @Override
        void submit(Runnable task) {
            if (!wq.queue(new Item(task))) {
                throw new IllegalStateException("a fresh item was not queued");
            }
        }

        /** An executor view whose shutdown also shuts the engine down. */
        ExecutorService executor() {
            ExecutorService view = wq.asExecutor();
            return new java.util.concurrent.AbstractExecutorService() {
                @Override public void execute(Runnable command) { view.execute(command); }
                @Override public void shutdown() { view.shutdown(); Cmwq.this.close(); }
                @Override public java.util.List<Runnable> shutdownNow() { shutdown(); return java.util.List.of(); }
                @Override public boolean isShutdown() { return view.isShutdown(); }
                @Override public boolean isTerminated() { return view.isTerminated(); }
                @Override public boolean awaitTermination(long t, TimeUnit u) throws InterruptedException {
                    return view.awaitTermination(t, u);
                }
            };
        }

        @Override
        public void close() {
            engine.shutdown(Duration.ofSeconds(30));
        }
    }

    static final class Jdk extends Backend {
        private final ExecutorService executor;
        private final boolean owned;

        Jdk(ExecutorService executor, boolean owned) {
            this.executor = executor;
            this.owned = owned;
        }

        @Override
        void submit(Runnable task) {
            executor.execute(task);
        }

        @Override
        public void close() {
            if (!owned) {
                return;
            }
            executor.shutdown();
            try {
                if (!executor.awaitTermination(30, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("executor did not terminate");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
