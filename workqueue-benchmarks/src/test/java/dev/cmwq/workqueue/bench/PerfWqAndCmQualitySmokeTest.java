package dev.cmwq.workqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Smoke runs of the plain mains with tiny parameters (a few seconds each): they run and print sane numbers. */
class PerfWqAndCmQualitySmokeTest {

    @Test
    void perfWqBenchRuns() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
        // workload 3, load >= 1 s, two backends, burn/S, foreground ~0.5 s alone, one rep
        PerfWqBench.Report r = PerfWqBench.run(PerfWqBench.Config.parse("3", "1", "cmwq,legacy-st", "S", "0.5", "1"), out);
        String table = PerfWqBench.table(r);
        System.out.println(buf.toString(StandardCharsets.UTF_8));
        System.out.println(table);
        assertThat(r.aloneSeconds()).isPositive();
        assertThat(r.rows()).hasSize(2);
        for (PerfWqBench.Row row : r.rows()) {
            assertThat(row.fgSeconds()).as(row.backend()).isPositive();
            assertThat(row.ratio()).as(row.backend()).isPositive();
            assertThat(row.items()).as(row.backend()).isPositive();
            assertThat(row.peakThreads()).as(row.backend()).isPositive();
            assertThat(row.avgThreads()).as(row.backend()).isPositive();
            assertThat(row.cpuSeconds()).as(row.backend()).isPositive();
        }
        assertThat(buf.toString(StandardCharsets.UTF_8)).contains("[1/2] wl3 cmwq", "[2/2] wl3 legacy-st");
        assertThat(table).contains("| wl | backend |", "| 3 | cmwq |", "| 3 | legacy-st |");
    }

    @Test
    void throughputProbeRuns() throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            ThroughputProbe.main(new String[] {"unbound", "1", "1", "1", "0", "0"});
            System.setProperty("probe.window", "64"); // a small window: the producers wait often
            ThroughputProbe.main(new String[] {"executor", "2", "1", "1"});
        } finally {
            System.clearProperty("probe.window");
            System.setOut(saved);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        System.out.println(text);
        assertThat(text).contains("probe: unbound, 1 producer(s), window " + ThroughputBenchmark.WINDOW
                + ", queue cpus 0, producer cpus 0", "probe: executor, 2 producer(s), window 64,");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("round 0: ([0-9.]+) M items/s").matcher(text);
        int rounds = 0;
        while (m.find()) {
            rounds++;
            assertThat(Double.parseDouble(m.group(1))).as("items/s of round %d", rounds).isPositive();
        }
        assertThat(rounds).as("one round per run").isEqualTo(2);
    }

    @Test
    void cmQualityBenchRuns() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
        CmQualityBench.Report r = CmQualityBench.run(10, 0.5, 100, out);
        String table = CmQualityBench.table(r);
        System.out.println(buf.toString(StandardCharsets.UTF_8));
        System.out.println(table);
        assertThat(r.latencies()).hasSize(6);
        for (CmQualityBench.Latency l : r.latencies()) {
            assertThat(l.n()).isEqualTo(10);
            assertThat(l.p50Us()).as(l.kind() + "/" + l.path()).isPositive();
            assertThat(l.p99Us()).isGreaterThanOrEqualTo(l.p50Us());
        }
        assertThat(r.idle().baselineCpuMs()).isNotNegative();
        assertThat(r.idle().engineCpuMs()).isNotNegative();
        assertThat(r.queues().queues()).isEqualTo(100);
        assertThat(r.queues().bytesPerQueue()).isPositive();
        assertThat(r.queues().reclaimThreadsAdded()).isPositive();
        assertThat(r.heapByCpus()).extracting(CmQualityBench.QueueHeap::engineCpus).endsWith(8, 64);
        for (CmQualityBench.QueueHeap h : r.heapByCpus()) {
            assertThat(h.boundBytesPerQueue()).as("%d CPUs", h.engineCpus()).isPositive();
        }
        assertThat(r.used()).extracting(CmQualityBench.UsedQueues::model).containsExactlyElementsOf(PerfWqBackend.DEFAULTS);
        int perQueueThread = used(r, "legacy-st").threadsAdded();
        assertThat(perQueueThread).as("legacy-st keeps a thread per queue").isGreaterThanOrEqualTo(100);
        assertThat(used(r, "cmwq-plain").threadsAdded()).as("the engine's shared pools").isLessThan(perQueueThread);
        assertThat(r.pending()).extracting(CmQualityBench.PendingHeap::model).containsExactlyElementsOf(CmQualityBench.PENDING_MODELS);
        for (CmQualityBench.PendingHeap h : r.pending()) {
            assertThat(h.items()).isEqualTo(10_000);
            assertThat(h.bytesPerItem()).as(h.model()).isPositive();
        }
        assertThat(table).contains("| blocking | detection |", "| sleep | explicit hook |", "| socket | sampled monitor |",
                "idle CPU", "threads per queue", "| model | threads added |", "| legacy-mt |", "| engine CPUs |",
                "| model | heap per pending item");
    }

    private static CmQualityBench.UsedQueues used(CmQualityBench.Report r, String model) {
        return r.used().stream().filter(u -> u.model().equals(model)).findFirst().orElseThrow();
    }
}
