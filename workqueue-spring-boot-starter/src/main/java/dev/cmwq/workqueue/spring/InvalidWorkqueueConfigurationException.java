package dev.cmwq.workqueue.spring;

/**
 * A {@code workqueue.*} property or a {@link WorkItem} declaration that can't be used. The
 * message names the offending property (or method), its value, why it is wrong and what is
 * allowed; {@link WorkqueueFailureAnalyzer} turns it into the start-up failure report. Thrown
 * before anything is changed.
 */
public class InvalidWorkqueueConfigurationException extends IllegalArgumentException {

    private final String property;
    private final Object value;
    private final String reason;
    private final String allowed;

    /**
     * @param property the property's full name ({@code workqueue.queues.writeback.max-active}) or,
     *                 for a {@link WorkItem}, the annotated method
     * @param value    the value found
     * @param reason   why it can't be used
     * @param allowed  what would be accepted
     */
    public InvalidWorkqueueConfigurationException(String property, Object value, String reason, String allowed) {
        this(property, value, reason, allowed, null);
    }

    public InvalidWorkqueueConfigurationException(String property, Object value, String reason, String allowed,
                                                  Throwable cause) {
        super(property + " = '" + value + "': " + reason + "; allowed: " + allowed, cause);
        this.property = property;
        this.value = value;
        this.reason = reason;
        this.allowed = allowed;
    }

    public String getProperty() {
        return property;
    }

    public Object getValue() {
        return value;
    }

    public String getReason() {
        return reason;
    }

    public String getAllowed() {
        return allowed;
    }
}
