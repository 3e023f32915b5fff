package websessions.speed;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka source's decoder: each record's value through {@link EventDecoder}, with its partition and offset.
 * An undecodable record yields no row: the job's counters count it as an offset not accounted for
 * ({@code offset_max - offset_min + 1 - records}, as the SQL path's JSON format did), this decoder counts it
 * per partition in the metric {@code undecodable_<partition>} and logs its partition, offset and reason
 * (the first ten per source subtask, then every thousandth).
 */
public final class KafkaEventDeserializer implements KafkaRecordDeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(KafkaEventDeserializer.class);

    private transient MetricGroup metrics;
    private transient Map<Integer, Counter> undecodable;
    private transient long logged;

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        metrics = context.getMetricGroup();
        undecodable = new HashMap<>();
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RowData> out) {
        try {
            out.collect(EventDecoder.decode(record.value(), record.partition(), record.offset()));
        } catch (EventDecoder.Undecodable e) {
            if (undecodable != null) {
                undecodable.computeIfAbsent(record.partition(), p -> metrics.counter("undecodable_" + p)).inc();
            }
            if (logged < 10 || logged % 1000 == 0) {
                LOG.warn("undecodable record skipped: {} partition {} offset {}: {}", record.topic(),
                        record.partition(), record.offset(), e.getMessage());
            }
            logged++;
        }
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return SpeedStream.INPUT_TYPE_INFO;
    }
}
