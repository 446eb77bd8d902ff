/// SIA DC-09 (ANSI/SIA DC-09) reporting to alarm receiving centres.
///
/// Pure pieces first: `CRC16ARC`, `DC09Timestamp`, `DC09Frame` (build and
/// parse), `DC09Cipher` (AES-CBC, zero IV, the standard's pad), `DC09Reply`
/// (ACK / NAK / DUH as real receivers send them), `DC09CodeTable` (alerts to
/// SIA-DCS and ADM-CID events). `DC09Channel` makes one exchange over TCP or
/// UDP per attempt; the `DeliveryService` (PanicDelivery) decides the rest.
public enum DC09 {
    /// Replies longer than this are refused unread.
    public static let maximumReplyBytes = 1024
    /// Sequence numbers run 1...9999 and wrap to 1.
    public static let sequenceRange = 1...9999
}
