package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.Workqueue;
import java.io.InputStream;
import java.net.URL;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.convert.DurationStyle;
import tools.jackson.databind.json.JsonMapper;

/**
 * The configuration metadata the build generates (spring-boot-configuration-processor plus
 * additional-spring-configuration-metadata.json): every {@code workqueue.*} property is described,
 * has its default where there is one, and the closed value sets have hints.
 */
class MetadataTest {

    private static final String RESOURCE = "META-INF/spring-configuration-metadata.json";

    /** Every property WorkqueueProperties has, as the IDE should offer it. */
    private static final Set<String> EXPECTED = Set.of(
            "workqueue.enabled", "workqueue.name", "workqueue.cpus", "workqueue.idle-timeout", "workqueue.max-workers",
            "workqueue.monitor-interval", "workqueue.cpu-intensive-thresh", "workqueue.cpu-accounting", "workqueue.power-efficient",
            "workqueue.unbound-cpumask", "workqueue.default-affinity-scope", "workqueue.watchdog.threshold", "workqueue.queues",
            "workqueue.task-executor.queue",
            "workqueue.system-wq.max-active", "workqueue.system-highpri-wq.max-active", "workqueue.system-long-wq.max-active",
            "workqueue.system-freezable-wq.max-active",
            "workqueue.system-unbound-wq.max-active", "workqueue.system-unbound-wq.nice", "workqueue.system-unbound-wq.cpumask",
            "workqueue.system-unbound-wq.affinity-scope", "workqueue.system-unbound-wq.affinity-strict",
            "workqueue.system-power-efficient-wq.max-active", "workqueue.system-power-efficient-wq.nice",
            "workqueue.system-power-efficient-wq.cpumask", "workqueue.system-power-efficient-wq.affinity-scope",
            "workqueue.system-power-efficient-wq.affinity-strict",
            "workqueue.system-freezable-power-efficient-wq.max-active", "workqueue.system-freezable-power-efficient-wq.nice",
            "workqueue.system-freezable-power-efficient-wq.cpumask", "workqueue.system-freezable-power-efficient-wq.affinity-scope",
            "workqueue.system-freezable-power-efficient-wq.affinity-strict");

    private static Map<String, Map<String, Object>> properties;
    private static Map<String, Map<String, Object>> hints;
    private static Map<String, Map<String, Object>> groups;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void read() throws Exception {
        List<URL> ours = new ArrayList<>();
        for (URL url : Collections.list(MetadataTest.class.getClassLoader().getResources(RESOURCE))) {
            if (url.getPath().contains("workqueue-spring-boot-starter")) {
                ours.add(url);
            }
        }
        assertThat(ours).as("the starter's generated metadata on the class path").hasSize(1);
        Map<String, Object> json;
        try (InputStream in = ours.get(0).openStream()) {
            json = JsonMapper.builder().build().readValue(in, Map.class);
        }
        properties = byName((List<Map<String, Object>>) json.get("properties"));
        hints = byName((List<Map<String, Object>>) json.getOrDefault("hints", List.of()));
        groups = byName((List<Map<String, Object>>) json.get("groups"));
    }

    private static Map<String, Map<String, Object>> byName(List<Map<String, Object>> entries) {
        Map<String, Map<String, Object>> m = new LinkedHashMap<>();
        for (Map<String, Object> e : entries) {
            assertThat(m.put((String) e.get("name"), e)).as("duplicate entry %s", e.get("name")).isNull();
        }
        return m;
    }

    private static List<String> names(String type) {
        return properties.values().stream().filter(p -> type.equals(p.get("type"))).map(p -> (String) p.get("name")).toList();
    }

    @Test
    void everyPropertyIsThereAndOnlyThose() {
        assertThat(properties.keySet()).allMatch(n -> n.startsWith("workqueue."));
        assertThat(properties.keySet()).containsExactlyInAnyOrderElementsOf(EXPECTED);
        assertThat(groups).containsKeys("workqueue", "workqueue.watchdog", "workqueue.task-executor", "workqueue.system-wq",
                "workqueue.system-unbound-wq", "workqueue.system-freezable-power-efficient-wq");
    }

    @Test
    void everyPropertyHasADescriptionAndAType() {
        assertThat(properties.values()).allSatisfy(p -> {
            assertThat((String) p.get("description")).as("description of %s", p.get("name")).isNotBlank().endsWith(".")
                    .doesNotContain("{@").doesNotContain("<");
            assertThat((String) p.get("type")).as("type of %s", p.get("name")).isNotBlank();
        });
    }

    @Test
    void durationsHaveTheirDefaults() {
        WorkqueueProperties d = new WorkqueueProperties();
        Map<String, Duration> expected = Map.of("workqueue.idle-timeout", d.getIdleTimeout(), "workqueue.monitor-interval",
                d.getMonitorInterval(), "workqueue.cpu-intensive-thresh", d.getCpuIntensiveThresh(), "workqueue.watchdog.threshold",
                d.getWatchdog().getThreshold());
        assertThat(names("java.time.Duration")).containsExactlyInAnyOrderElementsOf(expected.keySet());
        expected.forEach((name, value) -> {
            Object dflt = properties.get(name).get("defaultValue");
            assertThat(dflt).as("default of %s", name).isNotNull();
            assertThat(DurationStyle.detectAndParse(dflt.toString())).as("default of %s", name).isEqualTo(value);
        });
        assertThat(properties.get("workqueue.watchdog.threshold").get("defaultValue")).isEqualTo("30s");
        assertThat(properties.get("workqueue.idle-timeout").get("defaultValue")).isEqualTo("300s");
    }

    @Test
    void integersAndBooleansHaveTheirDefaults() {
        WorkqueueProperties d = new WorkqueueProperties();
        assertThat(properties.get("workqueue.max-workers").get("defaultValue")).isEqualTo(d.getMaxWorkers());
        assertThat(properties.get("workqueue.enabled").get("defaultValue")).isEqualTo(true);
        assertThat(properties.get("workqueue.cpu-accounting").get("defaultValue")).isEqualTo(d.isCpuAccounting());
        assertThat(properties.get("workqueue.power-efficient").get("defaultValue")).isEqualTo(d.isPowerEfficient());
        assertThat(properties.get("workqueue.name").get("defaultValue")).isEqualTo(d.getName());
        assertThat(properties.get("workqueue.default-affinity-scope").get("defaultValue")).isEqualTo("cache");
        // every max-active has one; only cpus (the machine's) and nice (unset keeps the queue's) have none
        List<String> withoutDefault = names("java.lang.Integer").stream()
                .filter(n -> properties.get(n).get("defaultValue") == null).toList();
        assertThat(withoutDefault).allMatch(n -> n.equals("workqueue.cpus") || n.endsWith(".nice"));
        assertThat(names("java.lang.Integer").stream().filter(n -> n.endsWith(".max-active"))).hasSize(7)
                .allMatch(n -> properties.get(n).get("defaultValue") != null);
    }

    /** The documented max-active defaults are what the engine really gives the system queues. */
    @Test
    void systemQueueDefaultsMatchTheEngine() {
        StarterTestSupport.runner().run(ctx -> {
            assertThat(ctx).hasNotFailed();
            for (String bean : WorkqueuesFactory.SYSTEM_QUEUE_BEANS) {
                String property = "workqueue." + bean.replace('_', '-') + ".max-active";
                assertThat(properties).as(property).containsKey(property);
                assertThat(properties.get(property).get("defaultValue")).as(property)
                        .isEqualTo(ctx.getBean(bean, Workqueue.class).maxActive());
            }
        });
    }

    @Test
    void affinityScopePropertiesHaveHints() {
        List<String> scopeProperties = properties.keySet().stream().filter(n -> n.endsWith("affinity-scope")).toList();
        assertThat(scopeProperties).hasSize(4);
        List<String> scopes = Arrays.stream(AffinityScope.values()).map(AffinityScope::sysfsName).toList();
        for (String p : scopeProperties) {
            assertThat(hints).as("hint for %s", p).containsKey(p);
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> values = (List<Map<String, Object>>) hints.get(p).get("values");
            assertThat(values.stream().map(v -> (String) v.get("value")).toList()).as(p).containsExactlyElementsOf(scopes);
            assertThat(values).allSatisfy(v -> assertThat((String) v.get("description")).isNotBlank());
        }
    }

    @Test
    void taskExecutorQueueHintsTheSystemQueuesAndAllowsAnyName() {
        Map<String, Object> hint = hints.get("workqueue.task-executor.queue");
        assertThat(hint).isNotNull();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> values = (List<Map<String, Object>>) hint.get("values");
        assertThat(values.stream().map(v -> (String) v.get("value")).toList())
                .containsExactlyElementsOf(WorkqueuesFactory.SYSTEM_QUEUE_BEANS);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> providers = (List<Map<String, Object>>) hint.get("providers");
        assertThat(providers).extracting(p -> p.get("name")).containsExactly("any");
    }

    @Test
    void everyHintNamesAProperty() {
        assertThat(hints.keySet()).allSatisfy(h -> assertThat(properties).as("hint %s", h).containsKey(h));
    }

    @Test
    void queuesIsAMapOfQueues() {
        Map<String, Object> queues = properties.get("workqueue.queues");
        assertThat(queues.get("type")).isEqualTo("java.util.Map<java.lang.String,dev.cmwq.workqueue.spring.WorkqueueProperties$Queue>");
        String description = (String) queues.get("description");
        for (String word : List.of("flags", "max-active", "ordered", "nice", "cpumask", "affinity-scope", "affinity-strict", "name",
                "unbound", "mem-reclaim", "[ext4.rsv]")) {
            assertThat(description).contains(word);
        }
    }

    @Test
    void everyPropertyComesFromTheStarter() {
        Set<String> sources = properties.values().stream().map(p -> (String) p.get("sourceType")).collect(Collectors.toSet());
        assertThat(sources).allMatch(s -> s.startsWith("dev.cmwq.workqueue.spring.WorkqueueProperties"));
    }
}
