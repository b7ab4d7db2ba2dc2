package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.LatencySnapshot;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.WqFlag;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.WorkqueueStats;
import dev.cmwq.workqueue.Workqueues;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.actuate.endpoint.Access;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;
import org.springframework.boot.actuate.endpoint.web.WebEndpointResponse;

/**
 * {@code /actuator/workqueues}: the kernel's {@code /sys/devices/virtual/workqueue} and
 * {@code wq_monitor} in one endpoint.
 * <ul>
 * <li>{@code GET}: the engine (CPUs, unbound cpumask requested and effective), every pool and every
 * workqueue with its attributes and statistics.</li>
 * <li>{@code GET /{name}}: one workqueue (404 if there is none).</li>
 * <li>{@code POST /{name}} with the sysfs names {@code max_active}, {@code nice}, {@code cpumask},
 * {@code affinity_scope}, {@code affinity_strict}: only for WQ_SYSFS queues, attributes only for
 * unbound ones. Every value is checked before anything changes; bad input is a 400 whose body
 * names the value and what is allowed.</li>
 * <li>{@code POST} with {@code cpumask}: the engine-wide unbound cpumask.</li>
 * </ul>
 * Read-only by default: writes need {@code management.endpoint.workqueues.access=unrestricted}.
 *
 * <p>Writes to one queue are serialized by this endpoint's monitor, so that two writers can't
 * interleave a max_active and an attribute change (the engine serializes each change itself).
 */
@Endpoint(id = "workqueues", defaultAccess = Access.READ_ONLY)
public class WorkqueuesEndpoint {

    private final Workqueues engine;
    /** Run after every successful write (the meters pick up pools a change made). */
    private final Runnable afterWrite;

    public WorkqueuesEndpoint(Workqueues engine) {
        this(engine, () -> { });
    }

    public WorkqueuesEndpoint(Workqueues engine, Runnable afterWrite) {
        this.engine = engine;
        this.afterWrite = afterWrite;
    }

    @ReadOperation
    public Map<String, Object> workqueues() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("engine", engine.name());
        out.put("cpus", engine.cpus());
        out.put("online_cpus", engine.onlineCpus().toList());
        CpuMask requested = engine.unboundCpumask();
        Map<String, Object> unbound = new LinkedHashMap<>();
        unbound.put("requested", mask(requested));
        CpuMask effective = requested.and(engine.onlineCpus());
        unbound.put("effective", mask(effective.isEmpty() ? engine.onlineCpus() : effective));
        out.put("unbound_cpumask", unbound);
        out.put("default_affinity_scope", engine.defaultAffinityScope().sysfsName());
        out.put("power_efficient", engine.isPowerEfficient());
        out.put("frozen", engine.isFrozen());
        out.put("placement", engine.placement().description());
        out.put("watchdog_thresh_seconds", engine.watchdogThreshold().toMillis() / 1000.0);
        out.put("stalled_pools", engine.stalledPools());
        out.put("worker_threads", engine.workerThreads());
        List<Map<String, Object>> pools = new ArrayList<>();
        for (PoolStats p : engine.pools()) {
            pools.add(pool(p));
        }
        out.put("pools", pools);
        Map<String, Object> queues = new LinkedHashMap<>();
        for (Workqueue wq : engine.workqueues()) {
            queues.put(wq.name(), queue(wq));
        }
        out.put("workqueues", queues);
        return out;
    }

    @ReadOperation
    public WebEndpointResponse<Map<String, Object>> workqueue(@Selector String name) {
        return engine.workqueue(name).map(wq -> new WebEndpointResponse<>(queue(wq)))
                .orElseGet(() -> new WebEndpointResponse<>(notFound(name), WebEndpointResponse.STATUS_NOT_FOUND));
    }

    /** The sysfs knobs of one queue. Values may be JSON numbers, booleans or strings. */
    @WriteOperation
    public WebEndpointResponse<Map<String, Object>> update(@Selector String name, @Nullable String max_active,
                                                           @Nullable String nice, @Nullable String cpumask,
                                                           @Nullable String affinity_scope, @Nullable String affinity_strict) {
        Workqueue wq = engine.workqueue(name).orElse(null);
        if (wq == null) {
            return new WebEndpointResponse<>(notFound(name), WebEndpointResponse.STATUS_NOT_FOUND);
        }
        if (max_active == null && nice == null && cpumask == null && affinity_scope == null && affinity_strict == null) {
            return bad(name, null, null, "nothing to change", "one or more of max_active, nice, cpumask, affinity_scope, "
                    + "affinity_strict");
        }
        String firstKey = max_active != null ? "max_active" : firstAttr(nice, cpumask, affinity_scope, affinity_strict);
        String firstValue = max_active != null ? max_active : nice != null ? nice : cpumask != null ? cpumask
                : affinity_scope != null ? affinity_scope : affinity_strict;
        if (!wq.flags().contains(WqFlag.SYSFS)) {
            return bad(name, firstKey, firstValue, "workqueue '" + name + "' is not WQ_SYSFS, so it has no sysfs knobs",
                    wq.alias() != null ? "none: system workqueues have no sysfs knobs here; tune max_active with the "
                            + "property workqueue." + wq.alias().replace('_', '-') + ".max-active"
                            : "a workqueue allocated with the sysfs flag (workqueue.queues." + name + ".flags: [sysfs, ...])");
        }
        boolean attrs = nice != null || cpumask != null || affinity_scope != null || affinity_strict != null;
        if (attrs && !wq.isUnbound()) {
            String attr = firstAttr(nice, cpumask, affinity_scope, affinity_strict);
            return bad(name, attr, attr.equals("nice") ? nice : attr.equals("cpumask") ? cpumask
                            : attr.equals("affinity_scope") ? affinity_scope : affinity_strict,
                    "workqueue '" + name + "' is per-CPU: nice, cpumask, affinity_scope and affinity_strict exist only for "
                            + "unbound workqueues", "max_active");
        }
        if (max_active != null && wq.isOrdered()) {
            return bad(name, "max_active", max_active, "workqueue '" + name + "' is ordered: its max_active is 1", "no max_active");
        }
        // Check everything first: a bad value changes nothing.
        Integer maxActive = null;
        if (max_active != null) {
            int limit = wq.isUnbound() ? engine.unboundMaxActiveLimit() : Workqueues.WQ_MAX_ACTIVE;
            maxActive = parseInt(max_active);
            if (maxActive == null || maxActive < 1 || maxActive > limit) {
                return bad(name, "max_active", max_active, "max_active must be an integer from 1 to " + limit, "1.." + limit);
            }
        }
        WorkqueueAttrs newAttrs = null;
        if (attrs) {
            WorkqueueAttrs a = wq.attrs();
            if (nice != null) {
                Integer n = parseInt(nice);
                if (n == null || n < WorkqueueAttrs.MIN_NICE || n > WorkqueueAttrs.MAX_NICE) {
                    return bad(name, "nice", nice, "nice must be an integer from -20 to 19", "-20..19");
                }
                a = a.withNice(n);
            }
            if (cpumask != null) {
                CpuMask m;
                try {
                    m = CpuMask.parse(cpumask);
                } catch (IllegalArgumentException e) {
                    return bad(name, "cpumask", cpumask, e.getMessage(), "hex like 'f' or a list like '0-3,5'");
                }
                if (!m.intersects(engine.onlineCpus())) {
                    return bad(name, "cpumask", cpumask, "no online CPU in " + m.toList() + " (EINVAL)",
                            "a mask with at least one of the online CPUs " + engine.onlineCpus().toList());
                }
                a = a.withCpumask(m);
            }
            if (affinity_scope != null) {
                try { // "default" follows the engine's default scope, as the kernel's sysfs file does
                    a = a.withAffinityScope(affinity_scope.strip().equalsIgnoreCase("default") ? null
                            : AffinityScope.parse(affinity_scope));
                } catch (IllegalArgumentException e) {
                    return bad(name, "affinity_scope", affinity_scope, e.getMessage(), "cpu, smt, cache, numa, system, default");
                }
            }
            if (affinity_strict != null) {
                Boolean strict = parseBool(affinity_strict);
                if (strict == null) {
                    return bad(name, "affinity_strict", affinity_strict, "not a boolean", "true, false, 1 or 0");
                }
                a = a.withAffinityStrict(strict);
            }
            newAttrs = a;
        }
        synchronized (this) {
            if (newAttrs != null) {
                try {
                    wq.applyAttrs(newAttrs);
                } catch (IllegalArgumentException e) { // e.g. no CPU left inside the engine's unbound cpumask
                    return bad(name, "cpumask", cpumask, e.getMessage(), "a mask with at least one online CPU");
                }
            }
            if (maxActive != null) {
                wq.setMaxActive(maxActive);
            }
        }
        afterWrite.run();
        return new WebEndpointResponse<>(queue(wq));
    }

    /** The engine-wide unbound cpumask ({@code /sys/devices/virtual/workqueue/cpumask}). */
    @WriteOperation
    public WebEndpointResponse<Map<String, Object>> setUnboundCpumask(@Nullable String cpumask) {
        if (cpumask == null) {
            return bad(null, null, null, "nothing to change", "cpumask");
        }
        CpuMask m;
        try {
            m = CpuMask.parse(cpumask);
        } catch (IllegalArgumentException e) {
            return bad(null, "cpumask", cpumask, e.getMessage(), "hex like 'f' or a list like '0-3,5'");
        }
        synchronized (this) {
            try {
                engine.setUnboundCpumask(m);
            } catch (IllegalArgumentException e) {
                return bad(null, "cpumask", cpumask, e.getMessage(),
                        "a mask with at least one of the online CPUs " + engine.onlineCpus().toList());
            }
        }
        afterWrite.run();
        return new WebEndpointResponse<>(workqueues());
    }

    // ---- descriptors --------------------------------------------------------------------------

    static Map<String, Object> queue(Workqueue wq) {
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("name", wq.name());
        if (wq.alias() != null) {
            q.put("alias", wq.alias());
        }
        List<String> flags = new ArrayList<>();
        for (WqFlag f : wq.flags()) {
            flags.add(f.kernelName());
        }
        if (wq.isOrdered()) {
            flags.add("__WQ_ORDERED");
        }
        q.put("flags", flags);
        q.put("per_cpu", !wq.isUnbound());
        q.put("ordered", wq.isOrdered());
        q.put("sysfs", wq.flags().contains(WqFlag.SYSFS));
        q.put("max_active", wq.maxActive());
        WorkqueueAttrs a = wq.attrs();
        q.put("nice", a.nice());
        if (wq.isUnbound()) {
            q.put("cpumask", mask(a.cpumask()));
            q.put("effective_cpumask", mask(wq.effectiveCpumask()));
            q.put("affinity_scope", a.affinityScope() != null ? a.affinityScope().sysfsName() : null);
            q.put("affinity_strict", a.affinityStrict());
        } else {
            q.put("cpumask", mask(wq.effectiveCpumask()));
        }
        q.put("enforced", wq.placementEnforced());
        q.put("stats", stats(wq.stats()));
        return q;
    }

    private static Map<String, Object> stats(WorkqueueStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total", s.started());
        m.put("completed", s.completed());
        m.put("failed", s.failed());
        m.put("in_flight", s.inFlight());
        m.put("active", s.active());
        m.put("inactive", s.inactive());
        m.put("pending", s.pending());
        m.put("cpu_time_ms", s.cpuTimeNanos() / 1_000_000.0);
        m.put("cpu_intensive", s.cpuIntensive());
        m.put("cm_wakeups", s.cmWakeups());
        m.put("repatriated", s.repatriated());
        m.put("mayday", s.mayday());
        m.put("rescued", s.rescued());
        m.put("queue_latency", latency(s.queueLatency()));
        m.put("run_time", latency(s.runTime()));
        return m;
    }

    private static Map<String, Object> latency(LatencySnapshot l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", l.count());
        m.put("mean_ms", l.meanNanos() / 1_000_000.0);
        m.put("p50_ms", l.p50Nanos() / 1_000_000.0);
        m.put("p90_ms", l.p90Nanos() / 1_000_000.0);
        m.put("p99_ms", l.p99Nanos() / 1_000_000.0);
        m.put("max_ms", l.maxNanos() / 1_000_000.0);
        return m;
    }

    private static Map<String, Object> pool(PoolStats p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", p.id());
        m.put("kind", p.kind());
        if (p.cpu() >= 0) {
            m.put("cpu", p.cpu());
        }
        m.put("cpus", mask(p.cpumask()));
        if (p.cpu() < 0) {
            m.put("pod", mask(p.podCpumask()));
            m.put("affinity_strict", p.affinityStrict());
        }
        m.put("nice", p.nice());
        m.put("effective_nice", p.effectiveNice());
        m.put("enforced", p.enforced());
        m.put("workers", p.workers());
        m.put("idle", p.idle());
        m.put("running", p.running());
        m.put("pending", p.pending());
        m.put("last_start", p.lastProgress().toString());
        return m;
    }

    private static Map<String, Object> mask(CpuMask m) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("hex", m.toHex());
        out.put("list", m.toList());
        return out;
    }

    // ---- input --------------------------------------------------------------------------------

    private static Map<String, Object> notFound(String name) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", "no workqueue named '" + name + "'");
        return body;
    }

    private static WebEndpointResponse<Map<String, Object>> bad(String queue, String key, String value, String error, String allowed) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (queue != null) {
            body.put("workqueue", queue);
        }
        if (key != null) {
            body.put("key", key);
        }
        if (value != null) {
            body.put("value", value);
        }
        body.put("error", error);
        body.put("allowed", allowed);
        body.put("changed", false);
        return new WebEndpointResponse<>(body, WebEndpointResponse.STATUS_BAD_REQUEST);
    }

    private static String firstAttr(String nice, String cpumask, String scope, String strict) {
        return nice != null ? "nice" : cpumask != null ? "cpumask" : scope != null ? "affinity_scope" : "affinity_strict";
    }

    private static Integer parseInt(String s) {
        try {
            return Integer.valueOf(s.strip());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static Boolean parseBool(String s) {
        return switch (s.strip().toLowerCase(Locale.ROOT)) {
            case "true", "1", "y", "yes", "on" -> true;
            case "false", "0", "n", "no", "off" -> false;
            default -> null;
        };
    }
}
