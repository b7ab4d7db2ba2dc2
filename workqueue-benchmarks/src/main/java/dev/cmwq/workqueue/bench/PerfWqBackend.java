package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where the perf-wq works run: the engine or one of the models it replaced. A work re-queues itself
 * from its own function with {@link #startDelayed}.
 */
public interface PerfWqBackend extends AutoCloseable {

    /** The backends, in table order; {@code cmwq-hook} is the optional explicit-hook variant. */
    List<String> NAMES = List.of("cmwq", "cmwq-plain", "cmwq-hook", "legacy-mt", "legacy-st", "cached", "virtual");
    List<String> DEFAULTS = List.of("cmwq", "cmwq-plain", "legacy-mt", "legacy-st", "cached", "virtual");

    String name();

    void start(int queueId, Runnable work);

    void startDelayed(int queueId, Runnable work, long delayMs);

    /** How a work sleeps: {@link Thread#sleep} (cmwq: the sampled monitor notices it). */
    default void sleep(long ms) throws InterruptedException {
        Thread.sleep(ms);
    }

    /** Stops and releases every thread (works have been told to stop re-queueing). */
    @Override
    void close();

    static PerfWqBackend create(String name, int cpus, Collection<Integer> queueIds) {
        return switch (name) {
            case "cmwq" -> new Cmwq(name, cpus, queueIds, false, true);
            case "cmwq-plain" -> new Cmwq(name, cpus, queueIds, false, false);
            case "cmwq-hook" -> new Cmwq(name, cpus, queueIds, true, true);
            case "legacy-mt" -> new PerQueue(name, cpus, queueIds);
            case "legacy-st" -> new PerQueue(name, 1, queueIds);
            case "cached" -> new Shared(name, Executors.newCachedThreadPool(named("cached")));
            case "virtual" -> new Shared(name, Executors.newVirtualThreadPerTaskExecutor());
            default -> throw new IllegalArgumentException("backend '" + name + "' unknown; allowed " + NAMES);
        };
    }

    static String queueName(int wqId) {
        return String.format("pwq-%02d", wqId);
    }

    private static ThreadFactory named(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    private static void stop(ExecutorService e) {
        e.shutdownNow();
        try {
            e.awaitTermination(3, TimeUnit.SECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * (a) The engine: one bound queue per pwq-NN, max_active 1, MEM_RECLAIM (a rescuer thread each),
     * like 2010's create_workqueue(); {@code cmwq-plain} without MEM_RECLAIM, as a queue that needs
     * no forward-progress guarantee is made today ({@code alloc_workqueue(name, 0, 1)}).
     */
    final class Cmwq implements PerfWqBackend {
        private final String name;
        private final boolean hook;
        private final Workqueues engine;
        private final Map<Integer, Workqueue> queues = new HashMap<>();
        private final Map<Runnable, DelayedWork> dworks = new ConcurrentHashMap<>();

        Cmwq(String name, int cpus, Collection<Integer> queueIds, boolean hook, boolean memReclaim) {
            this.name = name;
            this.hook = hook;
            this.engine = Workqueues.builder().cpus(cpus).name("perfwq-" + name).build();
            for (int id : queueIds) {
                queues.put(id, memReclaim ? engine.alloc(queueName(id), 1, WqFlag.MEM_RECLAIM) : engine.alloc(queueName(id), 1));
            }
        }

        @Override
        public String name() {
            return name;
        }

        private DelayedWork dwork(Runnable work) {
            return dworks.computeIfAbsent(work, w -> new DelayedWork(w));
        }

        @Override
        public void start(int queueId, Runnable work) {
            queues.get(queueId).queue(dwork(work));
        }

        @Override
        public void startDelayed(int queueId, Runnable work, long delayMs) {
            queues.get(queueId).queueDelayed(dwork(work), Duration.ofMillis(delayMs));
        }

        @Override
        public void sleep(long ms) throws InterruptedException {
            if (hook) {
                Workqueues.blocking(() -> Thread.sleep(ms));
            } else {
                Thread.sleep(ms);
            }
        }

        public Workqueues engine() {
            return engine;
        }

        @Override
        public void close() {
            for (DelayedWork d : dworks.values()) {
                d.cancel();
            }
            engine.shutdown(Duration.ofSeconds(3));
        }
    }

    /**
     * (b)/(c) The legacy models: per queue a fixed pool, one thread per CPU (multi-threaded) or one
     * thread (single-threaded), a ScheduledThreadPoolExecutor so the delayed re-queue needs no
     * extra thread.
     */
    final class PerQueue implements PerfWqBackend {
        private final String name;
        private final Map<Integer, ScheduledThreadPoolExecutor> pools = new HashMap<>();

        PerQueue(String name, int threadsPerQueue, Collection<Integer> queueIds) {
            this.name = name;
            for (int id : queueIds) {
                pools.put(id, new ScheduledThreadPoolExecutor(threadsPerQueue, named(name + "-" + queueName(id))));
            }
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void start(int queueId, Runnable work) {
            pools.get(queueId).execute(work);
        }

        @Override
        public void startDelayed(int queueId, Runnable work, long delayMs) {
            pools.get(queueId).schedule(work, delayMs, TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() {
            pools.values().forEach(ExecutorService::shutdownNow);
            new ArrayList<>(pools.values()).forEach(PerfWqBackend::stop);
        }
    }

    /** (d)/(e) One shared executor for every queue and one timer thread that hands off to it. */
    final class Shared implements PerfWqBackend {
        private final String name;
        private final ExecutorService exec;
        private final ScheduledExecutorService timer =
                Executors.newSingleThreadScheduledExecutor(named("timer"));

        Shared(String name, ExecutorService exec) {
            this.name = name;
            this.exec = exec;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void start(int queueId, Runnable work) {
            exec.execute(work);
        }

        @Override
        public void startDelayed(int queueId, Runnable work, long delayMs) {
            timer.schedule(() -> {
                if (!exec.isShutdown()) {
                    exec.execute(work);
                }
            }, delayMs, TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() {
            stop(timer);
            stop(exec);
        }
    }
}
