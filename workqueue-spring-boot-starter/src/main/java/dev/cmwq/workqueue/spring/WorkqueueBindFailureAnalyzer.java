package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.WqFlag;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.springframework.boot.context.properties.bind.BindException;
import org.springframework.boot.context.properties.source.ConfigurationProperty;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.core.Ordered;
import org.springframework.core.convert.ConversionFailedException;

/**
 * The start-up report for a {@code workqueue.*} value that can't be converted: an unknown flag or
 * affinity scope, a malformed duration or number. It names the property, the value and the
 * allowed values in the spelling the configuration uses ({@code mem-reclaim}), and runs before
 * Spring Boot's generic bind analyzer.
 */
class WorkqueueBindFailureAnalyzer extends AbstractFailureAnalyzer<BindException> implements Ordered {

    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, BindException cause) {
        String name = cause.getName().toString();
        if (!name.startsWith("workqueue.")) {
            return null;
        }
        ConfigurationProperty property = cause.getProperty();
        Object value = property != null ? property.getValue() : null;
        ConversionFailedException conversion = findCause(cause, ConversionFailedException.class);
        Class<?> target = conversion != null ? conversion.getTargetType().getObjectType() : null;
        String allowed;
        String reason;
        if (target == WqFlag.class) {
            reason = "'" + badElement(value, WqFlag.values()) + "' is not a workqueue flag";
            allowed = kebab(WqFlag.values());
        } else if (target == AffinityScope.class) {
            reason = "'" + badElement(value, AffinityScope.values()) + "' is not an affinity scope";
            allowed = kebab(AffinityScope.values());
        } else if (conversion != null) {
            reason = "can't be read as " + conversion.getTargetType().getType().getSimpleName()
                    + (conversion.getCause() != null ? " (" + conversion.getCause().getMessage() + ")" : "");
            allowed = allowedFor(conversion.getTargetType().getType());
        } else {
            Throwable root = cause.getCause() != null ? cause.getCause() : cause;
            reason = root.getMessage();
            allowed = "see docs/configuration.md";
        }
        String origin = property != null && property.getOrigin() != null ? "\n    Origin: " + property.getOrigin() : "";
        String description = "Invalid workqueue configuration:\n\n    Property: " + name + "\n    Value: \"" + value + "\""
                + origin + "\n    Reason: " + reason + "\n";
        return new FailureAnalysis(description, "Update your application's configuration. Allowed: " + allowed, cause);
    }

    private static String allowedFor(Class<?> type) {
        if (type == java.time.Duration.class) {
            return "a duration such as 500ms, 30s, 5m or an ISO-8601 duration (PT30S)";
        }
        if (type == Integer.class || type == int.class) {
            return "an integer";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        return "a value of type " + type.getSimpleName();
    }

    /** In a comma-separated value, the first element that names no constant (as Spring's lenient enum binding matches). */
    private static String badElement(Object value, Enum<?>[] constants) {
        String text = String.valueOf(value);
        for (String element : text.split(",")) {
            String e = canonical(element);
            if (Arrays.stream(constants).noneMatch(c -> canonical(c.name()).equals(e))) {
                return element.strip();
            }
        }
        return text;
    }

    private static String canonical(String s) {
        return s.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "");
    }

    static String kebab(Enum<?>[] values) {
        return Arrays.stream(values).map(v -> v.name().toLowerCase(Locale.ROOT).replace('_', '-'))
                .collect(Collectors.joining(", "));
    }
}
