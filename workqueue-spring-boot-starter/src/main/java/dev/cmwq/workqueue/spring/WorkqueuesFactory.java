package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.WqFlag;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Builds the engine from {@link WorkqueueProperties}: checks every value (nothing is built while
 * one is wrong), builds the engine, applies the unbound cpumask and the system queues' tunables,
 * allocates the configured queues, then runs the customizers. If a later step fails (say a
 * cpumask with no online CPU), the engine is shut down before the error is thrown.
 */
final class WorkqueuesFactory {

    /** Bean names of the system queues, in the engine's order: the kernel's variable names. */
    static final List<String> SYSTEM_QUEUE_BEANS = List.of("system_wq", "system_highpri_wq", "system_long_wq",
            "system_unbound_wq", "system_freezable_wq", "system_power_efficient_wq",
            "system_freezable_power_efficient_wq");

    private static final String ALL_FLAGS = WorkqueueBindFailureAnalyzer.kebab(WqFlag.values());

    private WorkqueuesFactory() {
    }

    static Workqueues create(WorkqueueProperties p, List<WorkqueuesBuilderCustomizer> builderCustomizers,
                             List<WorkqueueCustomizer> queueCustomizers) {
        Workqueues.Builder b = Workqueues.builder();
        set("workqueue.name", p.getName(), "a non-empty name", b::name);
        if (p.getCpus() != null) {
            set("workqueue.cpus", p.getCpus(), "1..4096", b::cpus);
        }
        set("workqueue.idle-timeout", p.getIdleTimeout(), "a positive duration, e.g. 300s", b::idleTimeout);
        set("workqueue.max-workers", p.getMaxWorkers(), "1 or more", b::maxWorkers);
        set("workqueue.monitor-interval", p.getMonitorInterval(), "0 (off) or a positive duration, e.g. 1ms", b::monitorInterval);
        set("workqueue.cpu-intensive-thresh", p.getCpuIntensiveThresh(), "0 (off) or a positive duration, e.g. 10ms",
                b::cpuIntensiveThreshold);
        set("workqueue.watchdog.threshold", p.getWatchdog().getThreshold(), "0 (off) or a positive duration, e.g. 30s",
                b::watchdogThreshold);
        set("workqueue.default-affinity-scope", p.getDefaultAffinityScope(), WorkqueueBindFailureAnalyzer.kebab(AffinityScope.values()),
                b::defaultAffinityScope);
        b.cpuAccounting(p.isCpuAccounting());
        b.powerEfficient(p.isPowerEfficient());
        CpuMask unboundCpumask = p.getUnboundCpumask() == null || p.getUnboundCpumask().isBlank() ? null
                : cpumask("workqueue.unbound-cpumask", p.getUnboundCpumask());
        Map<String, QueuePlan> plans = plan(p);
        for (WorkqueuesBuilderCustomizer c : builderCustomizers) {
            c.customize(b);
        }

        Workqueues engine;
        try {
            engine = b.build();
        } catch (IllegalStateException e) { // the first workers of the per-CPU and system pools could not be made
            throw new InvalidWorkqueueConfigurationException("workqueue.max-workers", p.getMaxWorkers(), e.getMessage(),
                    "enough threads for the first worker of every pool: at least 2 per CPU plus one per unbound pool "
                            + "(e.g. " + (2 * (p.getCpus() != null ? p.getCpus() : Runtime.getRuntime().availableProcessors()) + 2)
                            + " here), and more for any load", e);
        }
        try {
            if (unboundCpumask != null) {
                try {
                    engine.setUnboundCpumask(unboundCpumask);
                } catch (IllegalArgumentException e) {
                    throw new InvalidWorkqueueConfigurationException("workqueue.unbound-cpumask", p.getUnboundCpumask(), e.getMessage(),
                            "a mask with at least one online CPU (online: " + engine.onlineCpus().toList() + ")", e);
                }
            }
            configureSystemQueues(engine, p);
            for (QueuePlan plan : plans.values()) {
                plan.allocate(engine);
            }
            for (Workqueue wq : engine.workqueues()) {
                for (WorkqueueCustomizer c : queueCustomizers) {
                    c.customize(wq);
                }
            }
            return engine;
        } catch (RuntimeException e) {
            engine.shutdown(Duration.ofSeconds(5));
            throw e;
        }
    }

    private static <T> void set(String property, T value, String allowed, Consumer<T> setter) {
        if (value == null) {
            throw new InvalidWorkqueueConfigurationException(property, null, "must be set", allowed);
        }
        try {
            setter.accept(value);
        } catch (IllegalArgumentException e) {
            throw new InvalidWorkqueueConfigurationException(property, value, e.getMessage(), allowed, e);
        }
    }

    static CpuMask cpumask(String property, String text) {
        try {
            return CpuMask.parse(text);
        } catch (IllegalArgumentException e) {
            throw new InvalidWorkqueueConfigurationException(property, text, e.getMessage(),
                    "hex like 'f' or 'ff,ffffffff', or a list like '0-3,5' (quote it in YAML)", e);
        }
    }

    // ---- system queues ------------------------------------------------------------------------

    private static void configureSystemQueues(Workqueues engine, WorkqueueProperties p) {
        Map<String, WorkqueueProperties.SystemQueue> byBean = new LinkedHashMap<>();
        byBean.put("system_wq", p.getSystemWq());
        byBean.put("system_highpri_wq", p.getSystemHighpriWq());
        byBean.put("system_long_wq", p.getSystemLongWq());
        byBean.put("system_unbound_wq", p.getSystemUnboundWq());
        byBean.put("system_freezable_wq", p.getSystemFreezableWq());
        byBean.put("system_power_efficient_wq", p.getSystemPowerEfficientWq());
        byBean.put("system_freezable_power_efficient_wq", p.getSystemFreezablePowerEfficientWq());
        for (Map.Entry<String, WorkqueueProperties.SystemQueue> e : byBean.entrySet()) {
            Workqueue wq = engine.workqueue(e.getKey()).orElseThrow();
            String prefix = "workqueue." + e.getKey().replace('_', '-');
            WorkqueueProperties.SystemQueue q = e.getValue();
            if (q.getMaxActive() != null) {
                wq.setMaxActive(checkMaxActive(prefix + ".max-active", q.getMaxActive(), wq.isUnbound(), engine, false));
            }
            if (q instanceof WorkqueueProperties.UnboundSystemQueue u && u.hasAttrs()) {
                if (!wq.isUnbound()) {
                    throw new InvalidWorkqueueConfigurationException(prefix + "." + firstAttr(u), attrValue(u),
                            e.getKey() + " is bound here (workqueue.power-efficient is false): attributes apply only to unbound queues",
                            "set workqueue.power-efficient=true, or remove the attribute");
                }
                applyAttrs(wq, prefix, u, engine);
            }
        }
    }

    private static String firstAttr(WorkqueueProperties.UnboundSystemQueue u) {
        return u.getNice() != null ? "nice" : u.getCpumask() != null ? "cpumask"
                : u.getAffinityScope() != null ? "affinity-scope" : "affinity-strict";
    }

    private static Object attrValue(WorkqueueProperties.UnboundSystemQueue u) {
        return u.getNice() != null ? u.getNice() : u.getCpumask() != null ? u.getCpumask()
                : u.getAffinityScope() != null ? u.getAffinityScope() : u.getAffinityStrict();
    }

    private static void applyAttrs(Workqueue wq, String prefix, WorkqueueProperties.UnboundSystemQueue u, Workqueues engine) {
        WorkqueueAttrs attrs = attrs(prefix, u, wq.attrs());
        try {
            wq.applyAttrs(attrs);
        } catch (IllegalArgumentException e) {
            throw new InvalidWorkqueueConfigurationException(prefix + ".cpumask", u.getCpumask(), e.getMessage(),
                    "a mask with at least one online CPU inside workqueue.unbound-cpumask (online: " + engine.onlineCpus().toList()
                            + ", unbound cpumask: " + engine.unboundCpumask().toList() + ")", e);
        }
    }

    private static WorkqueueAttrs attrs(String prefix, WorkqueueProperties.UnboundSystemQueue u, WorkqueueAttrs base) {
        int nice = base.nice();
        if (u.getNice() != null) {
            nice = u.getNice();
            if (nice < WorkqueueAttrs.MIN_NICE || nice > WorkqueueAttrs.MAX_NICE) {
                throw new InvalidWorkqueueConfigurationException(prefix + ".nice", nice, "nice out of range",
                        WorkqueueAttrs.MIN_NICE + ".." + WorkqueueAttrs.MAX_NICE);
            }
        }
        CpuMask mask = u.getCpumask() != null ? cpumask(prefix + ".cpumask", u.getCpumask()) : null;
        if (mask != null && mask.isEmpty()) {
            throw new InvalidWorkqueueConfigurationException(prefix + ".cpumask", u.getCpumask(), "the mask has no CPU",
                    "a mask with at least one CPU, e.g. '1' or '0-1'");
        }
        return new WorkqueueAttrs(nice, mask, u.getAffinityScope(), Boolean.TRUE.equals(u.getAffinityStrict()));
    }

    private static int checkMaxActive(String property, int requested, boolean unbound, Workqueues engine, boolean zeroAllowed) {
        int limit = unbound ? engine.unboundMaxActiveLimit() : Workqueues.WQ_MAX_ACTIVE;
        if ((requested == 0 && zeroAllowed) || (requested >= 1 && requested <= limit)) {
            return requested;
        }
        throw new InvalidWorkqueueConfigurationException(property, requested, "max_active out of range for "
                + (unbound ? "an unbound queue (WQ_UNBOUND_MAX_ACTIVE = max(512, 4 x CPUs))" : "a bound queue (WQ_MAX_ACTIVE)"),
                "1.." + limit + (zeroAllowed ? ", or 0 for the default (" + Workqueues.WQ_DFL_ACTIVE + ")" : ""));
    }

    // ---- the application's queues -------------------------------------------------------------

    /** Names of the configured queues, each with where it was declared. */
    static Map<String, String> configuredQueueNames(Map<String, WorkqueueProperties.Queue> queues) {
        Map<String, String> names = new LinkedHashMap<>();
        for (Map.Entry<String, WorkqueueProperties.Queue> e : queues.entrySet()) {
            WorkqueueProperties.Queue q = e.getValue();
            names.put(q != null && q.getName() != null && !q.getName().isBlank() ? q.getName().strip() : e.getKey(),
                    "workqueue.queues." + e.getKey());
        }
        return names;
    }

    private static Map<String, QueuePlan> plan(WorkqueueProperties p) {
        Map<String, QueuePlan> plans = new LinkedHashMap<>();
        for (Map.Entry<String, WorkqueueProperties.Queue> e : p.getQueues().entrySet()) {
            String prefix = "workqueue.queues." + e.getKey();
            WorkqueueProperties.Queue q = e.getValue() != null ? e.getValue() : new WorkqueueProperties.Queue();
            String name = q.getName() != null ? q.getName().strip() : e.getKey();
            if (name.isEmpty()) {
                throw new InvalidWorkqueueConfigurationException(prefix + ".name", q.getName(), "a workqueue needs a name",
                        "a non-empty name");
            }
            if (SYSTEM_NAMES.contains(name)) {
                throw new InvalidWorkqueueConfigurationException(q.getName() != null ? prefix + ".name" : prefix, name,
                        "'" + name + "' is a system workqueue's name; system queues are tuned under workqueue.<system-queue>.*",
                        "any name but " + String.join(", ", SYSTEM_NAMES));
            }
            QueuePlan previous = plans.get(name);
            if (previous != null) {
                throw new InvalidWorkqueueConfigurationException(prefix + ".name", name, "the name is already used by "
                        + previous.prefix, "a name no other queue has");
            }
            Set<WqFlag> flags = q.getFlags() == null ? EnumSet.noneOf(WqFlag.class) : EnumSet.copyOf(
                    q.getFlags().isEmpty() ? EnumSet.noneOf(WqFlag.class) : q.getFlags());
            boolean unbound = q.isOrdered() || flags.contains(WqFlag.UNBOUND)
                    || (flags.contains(WqFlag.POWER_EFFICIENT) && p.isPowerEfficient());
            if (q.isOrdered() && q.getMaxActive() != null && q.getMaxActive() != 1) {
                throw new InvalidWorkqueueConfigurationException(prefix + ".max-active", q.getMaxActive(),
                        "an ordered queue runs one item at a time, in queueing order", "1, or leave it unset");
            }
            if (q.getMaxActive() != null && q.getMaxActive() < 0) {
                throw new InvalidWorkqueueConfigurationException(prefix + ".max-active", q.getMaxActive(), "max_active can't be negative",
                        "1..512 (unbound: up to max(512, 4 x CPUs)), or 0 for the default (256)");
            }
            if (q.hasAttrs() && !unbound) {
                throw new InvalidWorkqueueConfigurationException(prefix + "." + firstAttr(q), attrValue(q),
                        "attributes (nice, cpumask, affinity-scope, affinity-strict) apply only to unbound queues; flags are "
                                + kebabFlags(flags), "add 'unbound' to " + prefix + ".flags (or set ordered: true)");
            }
            WorkqueueAttrs attrs = q.hasAttrs() ? attrs(prefix, q, WorkqueueAttrs.defaults()) : null;
            plans.put(name, new QueuePlan(name, prefix, flags, q.isOrdered(), q.getMaxActive() == null ? 0 : q.getMaxActive(),
                    unbound, attrs, q.getCpumask()));
        }
        return plans;
    }

    private static String kebabFlags(Set<WqFlag> flags) {
        return flags.isEmpty() ? "[]" : flags.stream().map(f -> f.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'))
                .collect(Collectors.joining(", ", "[", "]"));
    }

    /** Names (and kernel aliases) of the system queues: a configured queue may not take one. */
    static final List<String> SYSTEM_NAMES;

    static {
        List<String> names = new ArrayList<>(List.of("events", "events_highpri", "events_long", "events_unbound",
                "events_freezable", "events_power_efficient", "events_freezable_pwr_efficient"));
        names.addAll(SYSTEM_QUEUE_BEANS);
        SYSTEM_NAMES = List.copyOf(names);
    }

    private record QueuePlan(String name, String prefix, Set<WqFlag> flags, boolean ordered, int maxActive, boolean unbound,
                             WorkqueueAttrs attrs, String cpumaskText) {

        void allocate(Workqueues engine) {
            checkMaxActive(prefix + ".max-active", maxActive, unbound, engine, true);
            Workqueue wq;
            try {
                wq = ordered ? engine.allocOrdered(name, flags.toArray(WqFlag[]::new)) : engine.alloc(name, flags, maxActive);
            } catch (IllegalArgumentException e) {
                throw new InvalidWorkqueueConfigurationException(prefix, name, e.getMessage(), "a name no other workqueue has", e);
            }
            if (attrs != null) {
                try {
                    wq.applyAttrs(attrs);
                } catch (IllegalArgumentException e) {
                    throw new InvalidWorkqueueConfigurationException(prefix + ".cpumask", cpumaskText, e.getMessage(),
                            "a mask with at least one online CPU inside workqueue.unbound-cpumask (online: "
                                    + engine.onlineCpus().toList() + ", unbound cpumask: " + engine.unboundCpumask().toList() + ")", e);
                }
            }
        }
    }
}
