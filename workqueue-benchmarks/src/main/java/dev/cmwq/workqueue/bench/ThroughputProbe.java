package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.ThreadPlacement;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The placement experiment behind the unbound queue's throughput in {@code docs/benchmarks.md}:
 * {@link ThroughputBenchmark}'s queue-and-run of no-op items (same window per producer),
 * as a plain main that can pin the producers and give the unbound queue a cpumask, so that the
 * producer and the worker run on the same CPU or on different ones. It prints the rate per round
 * and the pools that have more than one worker.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp workqueue-benchmarks/target/benchmarks.jar \
 *   dev.cmwq.workqueue.bench.ThroughputProbe [backend=unbound] [producers=1] [seconds=2] [rounds=3] \
 *   [queueCpus=-] [producerCpus=-]
 * </pre>
 * backend: {@code bound}, {@code unbound}, {@code executor} (bound queue's executor view) or
 * {@code tpe} (fixed pool, one thread per CPU); CPU lists as in sysfs ({@code 0}, {@code 0-1});
 * {@code -} for none. Pinning needs {@code workqueue-native} and native access.
 * {@code -Dprobe.affinityScope=cpu} (or {@code smt}, {@code cache}, {@code numa}, {@code system})
 * gives the unbound queue that affinity scope, {@code -Dprobe.affinityStrict=true} confines its
 * workers to their pod ({@code affinity_strict}); {@code -Dprobe.noCpuAccounting=true} turns the
 * engine's CPU accounting off; {@code -Dprobe.window=1024} gives each producer that window instead
 * of {@link ThroughputBenchmark#WINDOW}.
 */
public final class ThroughputProbe {
    private ThroughputProbe() {
    }

    /**
     * One producer thread: {@link ThroughputBenchmark.Producer}'s window (at most
     * {@code -Dprobe.window} or {@link ThroughputBenchmark#WINDOW} items in flight), submitting
     * until told to stop, then waiting for its items to drain.
     */
    static final class ProducerThread extends Thread {
        final ThroughputBenchmark.Producer window;
        private final Consumer<Runnable> submit;
        private final CpuMask pin;
        volatile boolean stop;
        volatile String pinError;

        ProducerThread(String name, int window, Consumer<Runnable> submit, CpuMask pin) {
            super(name);
            this.window = new ThroughputBenchmark.Producer(window);
            this.submit = submit;
            this.pin = pin;
        }

        @Override
        public void run() {
            if (pin != null) {
                pinError = ThreadPlacement.load().setAffinity(pin);
            }
            while (!stop) {
                window.acquire();
                submit.accept(window.item);
            }
            window.drain();
        }
    }

    public static void main(String[] args) throws Exception {
        String backend = arg(args, 0, "unbound");
        int producers = Integer.parseInt(arg(args, 1, "1"));
        int seconds = Integer.parseInt(arg(args, 2, "2"));
        int rounds = Integer.parseInt(arg(args, 3, "3"));
        String queueCpus = arg(args, 4, "-");
        String producerCpus = arg(args, 5, "-");
        CpuMask pin = producerCpus.equals("-") ? null : CpuMask.parseList(producerCpus);
        int window = ThroughputBenchmark.Producer.checkWindow(Integer.getInteger("probe.window", ThroughputBenchmark.WINDOW));
        Workqueues engine = null;
        ExecutorService executor = null;
        Consumer<Runnable> submit;
        switch (backend) {
            case "bound", "unbound", "executor" -> {
                engine = Workqueues.builder().name("probe").cpuAccounting(!Boolean.getBoolean("probe.noCpuAccounting")).build();
                Workqueue wq;
                if (backend.equals("unbound")) {
                    WorkqueueAttrs attrs = queueCpus.equals("-") ? WorkqueueAttrs.defaults()
                            : WorkqueueAttrs.defaults().withCpumask(CpuMask.parseList(queueCpus));
                    String scope = System.getProperty("probe.affinityScope");
                    if (scope != null) {
                        attrs = attrs.withAffinityScope(AffinityScope.parse(scope));
                    }
                    if (Boolean.getBoolean("probe.affinityStrict")) {
                        attrs = attrs.withAffinityStrict(true);
                    }
                    wq = engine.alloc("probe-unbound", Set.of(WqFlag.UNBOUND), 0, attrs);
                } else {
                    wq = engine.alloc("probe-bound", 0);
                }
                if (backend.equals("executor")) {
                    ExecutorService view = wq.asExecutor();
                    submit = view::execute;
                } else {
                    Workqueue q = wq;
                    submit = r -> q.queue(new Work("probe-item", r));
                }
            }
            case "tpe" -> {
                ThreadPoolExecutor tpe = (ThreadPoolExecutor) Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors());
                // Start its threads here, unpinned: left to start on the first execute() calls, they
                // would be created by a pinned producer and inherit its CPU (a new thread takes its
                // creator's affinity), so the whole pool would run on the producer's CPU.
                tpe.prestartAllCoreThreads();
                executor = tpe;
                submit = executor::execute;
            }
            default -> throw new IllegalArgumentException("backend: " + backend + " (bound, unbound, executor, tpe)");
        }
        System.out.printf("probe: %s, %d producer(s), window %d, queue cpus %s, producer cpus %s, placement %s%n", backend,
                producers, window, queueCpus, producerCpus,
                ThreadPlacement.load().description());
        try {
            for (int r = 0; r < rounds; r++) {
                List<ProducerThread> ps = new ArrayList<>();
                for (int i = 0; i < producers; i++) {
                    ps.add(new ProducerThread("producer-" + i, window, submit, pin));
                }
                long t0 = System.nanoTime();
                long cpu0 = ProcessCpu.nanos();
                ps.forEach(Thread::start);
                Thread.sleep(TimeUnit.SECONDS.toMillis(seconds)); // the measured interval, not a wait for a condition
                ps.forEach(p -> p.stop = true);
                for (Thread t : ps) {
                    t.join();
                }
                long elapsed = System.nanoTime() - t0;
                long cpu = ProcessCpu.nanos() - cpu0;
                long n = ps.stream().mapToLong(p -> p.window.completed()).sum();
                String pinned = ps.get(0).pinError;
                System.out.printf("round %d: %.2f M items/s, %.2f CPUs, %.0f ns of CPU per item%s%n", r,
                        n * 1e3 / elapsed, (double) cpu / elapsed, (double) cpu / n,
                        pinned == null ? "" : " (producer not pinned: " + pinned + ")");
                if (engine != null) {
                    for (PoolStats s : engine.pools()) {
                        if (s.workers() > 1) {
                            System.out.printf("  pool %d (%s, cpus %s): %d workers%n", s.id(), s.kind(), s.cpumask().toList(),
                                    s.workers());
                        }
                    }
                }
            }
        } finally {
            if (engine != null) {
                engine.shutdown(Duration.ofSeconds(30));
            }
            if (executor != null) {
                executor.shutdown();
                executor.awaitTermination(30, TimeUnit.SECONDS);
            }
        }
    }

    private static String arg(String[] args, int i, String dflt) {
        return args.length > i && !args[i].equals("-") ? args[i] : dflt;
    }
}
