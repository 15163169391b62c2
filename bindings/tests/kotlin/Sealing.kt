// Sealed recording from Kotlin: device keys (the library's key file, and a
// host key store written here with the JDK's Ed25519, standing in for
// Android Keystore), consent, recipient sets, typed refusals at start, and
// the dataset owner's verifyDataset on what was written.

package egocap.tests

import java.io.File
import java.io.RandomAccessFile
import java.security.KeyPairGenerator
import java.security.Signature
import java.util.concurrent.atomic.AtomicInteger
import uniffi.egocap_ffi.*

fun sealingTests(run: TestRun) {
    run.test("a_sealed_recording_with_a_file_key_store_verifies_every_segment") { sealedRecordingVerifies() }
    run.test("a_kotlin_ed25519_key_store_signs_registration_consent_and_segments_that_verify") { hostKeyStoreSigns() }
    run.test("starting_without_a_valid_consent_is_a_typed_consent_invalid_exception") { consentInvalid() }
    run.test("starting_with_a_withdrawn_consent_is_a_typed_consent_withdrawn_exception") { consentWithdrawn() }
    run.test("a_recipient_set_signed_by_a_non_owner_key_is_a_typed_recipient_set_untrusted_exception") { untrustedSet() }
    run.test("a_host_key_store_that_fails_or_misbehaves_is_a_typed_key_store_exception") { misbehavingKeyStore() }
    run.test("a_flipped_byte_in_a_sealed_file_fails_that_segment_only") { flippedByteFailsSegment() }
}

// --- fixtures -------------------------------------------------------------

const val NOTICE = "You will record yourself doing chores. Faces are blurred; footage is encrypted for the dataset owner."

/** A KeyStore in Kotlin over the JDK's Ed25519, as an app would wrap Android Keystore. */
class JdkEd25519KeyStore : KeyStore {
    private val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
    val signatures = AtomicInteger()

    /** X.509 SubjectPublicKeyInfo: a 12-byte header, then the raw 32-byte key. */
    override fun publicKey(): ByteArray = pair.public.encoded.let { it.copyOfRange(it.size - 32, it.size) }

    override fun sign(message: ByteArray): ByteArray {
        signatures.incrementAndGet()
        return Signature.getInstance("Ed25519").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }
}

/** The dataset owner: a pinned signing key, an age identity, and a signed recipient set. */
class Owner {
    val key = FileKeyStore.ephemeral()
    val identity = generateAgeIdentity()
    val recipientSetJson = signRecipientSet(key, 1uL, listOf(identity.recipient))
    val keyHex = key.publicKeyHex()
}

fun terms(worker: String = "worker-0001"): ConsentTerms =
    egocentricVideoConsentTerms(Controller("Example Robotics Dataset Ltd", "https://example.org/privacy"), "DE", NOTICE, "en", worker)

fun sealing(device: KeyStore, owner: Owner, consentJson: String, withdrawals: List<String> = emptyList()) = SealingConfig(
    keystore = device,
    deviceRegistrationJson = registerDevice(device, "jvm-test", null),
    recipientSetJson = owner.recipientSetJson,
    ownerKeyHex = owner.keyHex,
    consentJson = consentJson,
    withdrawalsJson = withdrawals,
)

/** Records [frames] 64×64 frames (1-second segments) with IMU; returns the stopped session and its summary. */
fun recordSealed(sealing: SealingConfig, frames: Int, events: EventSink? = null): Pair<RecordingSession, SessionSummary> {
    val session = RecordingSession.start(smallConfig(64, 64, PixelLayout.NV21), tempDir(), sealing, faceBlur(), null, events)
    val camera = Nv21CameraFrame(64, 64)
    val base = 1_000_000_000L
    for (i in 0 until frames) {
        camera.paint(i)
        val t = base + i * FRAME_INTERVAL_NS
        session.pushImu(imuBetween(t, t + FRAME_INTERVAL_NS))
        checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(camera.frame(t)), "push $i")
    }
    return session to session.stop()
}

fun checkAllVerified(report: VerificationReport, summary: SessionSummary) {
    val failures = report.segments.filter { it.failures.isNotEmpty() }.map { "${it.name}: ${it.failures.map { f -> f.reason }}" }
    check(report.allVerified) { "not verified: $failures ${report.problems}" }
    checkEquals(1uL, report.sessions, "sessions")
    checkEquals(summary.segments.map { it.sequence }, report.segments.map { it.sequence }, "verified sequences")
    checkEquals(summary.segments.map { it.frameCount }, report.segments.map { it.frames }, "frames per verified segment")
}

/** Asserts that starting a sealed session throws [E] and leaves nothing on disk. */
inline fun <reified E : EgocapException> refusedAtStart(what: String, sealing: SealingConfig): E {
    val dir = tempDir()
    val e = assertThrows<E>(what) { RecordingSession.start(smallConfig(64, 64, PixelLayout.NV21), dir, sealing, faceBlur(), null, null) }
    checkEquals(emptyList<String>(), File(dir).list()!!.toList(), "$what: files written")
    return e
}

// --- tests ----------------------------------------------------------------

fun sealedRecordingVerifies() {
    val owner = Owner()
    val keyFile = File(tempDir(), "device.key").path
    val generated = FileKeyStore.generate(keyFile)
    val device = FileKeyStore.open(keyFile)
    checkEquals(generated.publicKeyHex(), device.publicKeyHex(), "the reopened key file")
    assertThrows<EgocapException.KeyStore>("generating over an existing key file") { FileKeyStore.generate(keyFile) }

    val consent = giveConsent(device, terms())
    check(consent.recordJson.contains("\"consent_id\":\"${consent.consentId}\"")) { "consent id not in ${consent.recordJson}" }
    val events = CollectingEventSink()
    val (session, summary) = recordSealed(sealing(device, owner, consent.recordJson), 45, events)
    check(summary.segments.size >= 2) { "45 frames at 1 s segments should give 2 segments, got ${summary.segments.size}" }
    checkEquals(summary.segments.map { File(session.segmentDir(), it.file + ".age").path }, events.segments.map { it.second }, "sealed paths")
    val files = File(session.segmentDir()).list()!!.sorted()
    check(files.none { it.endsWith(".mp4") }) { "plaintext MP4 on disk: $files" }
    check(files.containsAll(listOf("device.json", "recipients.json", "consent.json", "seg-000000.record.json"))) { "files: $files" }

    val report = verifyDataset(session.segmentDir(), listOf(owner.identity.secretKey), owner.keyHex)
    checkAllVerified(report, summary)

    // Someone else's identity opens nothing; the message never holds the secret.
    val stranger = generateAgeIdentity()
    val denied = verifyDataset(session.segmentDir(), listOf(stranger.secretKey), owner.keyHex)
    check(!denied.allVerified && denied.segments.all { s -> s.failures.any { it.kind == SegmentFailureKind.DECRYPT_FAILED } }) {
        "a stranger's identity decrypted: $denied"
    }
    check(!denied.toString().contains(stranger.secretKey)) { "a secret key in the report" }
    val bad = assertThrows<EgocapException.InvalidKey>("a lowercase identity") {
        verifyDataset(session.segmentDir(), listOf(owner.identity.secretKey.lowercase()), owner.keyHex)
    }
    check(!bad.message.orEmpty().contains(owner.identity.secretKey.lowercase().drop(20))) { "the secret in: ${bad.message}" }
    assertThrows<EgocapException.NothingToVerify>("an empty directory") {
        verifyDataset(tempDir(), listOf(owner.identity.secretKey), owner.keyHex)
    }
    session.close()
}

fun hostKeyStoreSigns() {
    val owner = Owner()
    val device = JdkEd25519KeyStore()
    val deviceHex = device.publicKey().joinToString("") { "%02x".format(it) }
    val consent = giveConsent(device, terms())
    checkEquals(1, device.signatures.get(), "signatures after the consent")
    val sealing = sealing(device, owner, consent.recordJson)
    check(sealing.deviceRegistrationJson.contains("\"device_key\":\"$deviceHex\"")) { "registration: ${sealing.deviceRegistrationJson}" }
    check(consent.recordJson.contains("\"public_key\":\"$deviceHex\"")) { "consent signer: ${consent.recordJson}" }

    val (session, summary) = recordSealed(sealing, 45)
    // Registration, consent, the probe signature the session makes at start
    // (a key store that cannot sign is refused then), one per segment, and
    // the signed session end.
    checkEquals(4 + summary.segments.size, device.signatures.get(), "signatures: registration, consent, start probe, one per segment, session end")
    val record = File(session.segmentDir(), "seg-000000.record.json").readText()
    check(record.contains("\"public_key\":\"$deviceHex\"")) { "segment record not signed by the Kotlin key: $record" }
    checkAllVerified(verifyDataset(session.segmentDir(), listOf(owner.identity.secretKey), owner.keyHex), summary)

    // A key change signed by the Kotlin key and the library's file key.
    val change = changeDeviceKey(device, FileKeyStore.ephemeral())
    check(change.contains("\"old_key\":\"$deviceHex\"")) { "key change: $change" }
    session.close()
}

fun consentInvalid() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val otherDevice = FileKeyStore.ephemeral()
    val elsewhere = giveConsent(otherDevice, terms()).recordJson
    val e = refusedAtStart<EgocapException.ConsentInvalid>("a consent given on another device", sealing(device, owner, elsewhere))
    check(e.reason.contains("another device")) { "reason: ${e.reason}" }
    refusedAtStart<EgocapException.ConsentInvalid>("no consent", sealing(device, owner, ""))
    refusedAtStart<EgocapException.ConsentInvalid>("a recipient set as the consent", sealing(device, owner, owner.recipientSetJson))
    val mine = giveConsent(device, terms()).recordJson
    val tampered = mine.replace("worker-0001", "worker-0002")
    refusedAtStart<EgocapException.ConsentInvalid>("a consent edited after signing", sealing(device, owner, tampered))
    assertThrows<EgocapException.ConsentInvalid>("an e-mail address as the worker id") {
        giveConsent(device, terms(worker = "jane@example.org"))
    }
    // The same consent starts a recording.
    RecordingSession.start(smallConfig(64, 64, PixelLayout.NV21), tempDir(), sealing(device, owner, mine), faceBlur(), null, null).close()
}

fun consentWithdrawn() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val consent = giveConsent(device, terms())
    val withdrawal = withdrawConsent(device, consent.consentId)
    val e = refusedAtStart<EgocapException.ConsentWithdrawn>(
        "a withdrawn consent", sealing(device, owner, consent.recordJson, listOf(withdrawal)),
    )
    checkEquals(consent.consentId, e.consentId, "withdrawn consent id")
    check(e.withdrawnAt.endsWith("Z")) { "withdrawn at: ${e.withdrawnAt}" }
    // Another consent is not affected by that withdrawal.
    val fresh = giveConsent(device, terms())
    RecordingSession.start(
        smallConfig(64, 64, PixelLayout.NV21), tempDir(), sealing(device, owner, fresh.recordJson, listOf(withdrawal)), faceBlur(), null, null,
    ).close()
    refusedAtStart<EgocapException.InvalidRecord>("an unreadable withdrawal", sealing(device, owner, fresh.recordJson, listOf("{")))
}

fun untrustedSet() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val consent = giveConsent(device, terms()).recordJson
    val mallory = FileKeyStore.ephemeral()
    val theirs = signRecipientSet(mallory, 2uL, listOf(generateAgeIdentity().recipient))
    val e = refusedAtStart<EgocapException.RecipientSetUntrusted>(
        "a recipient set signed by a non-owner key", sealing(device, owner, consent).copy(recipientSetJson = theirs),
    )
    check(e.reason.contains("version 2")) { "reason: ${e.reason}" }
    val redirected = owner.recipientSetJson.replace(owner.identity.recipient, generateAgeIdentity().recipient)
    refusedAtStart<EgocapException.RecipientSetUntrusted>(
        "the owner's set with a recipient swapped", sealing(device, owner, consent).copy(recipientSetJson = redirected),
    )
    refusedAtStart<EgocapException.InvalidKey>("a malformed owner key", sealing(device, owner, consent).copy(ownerKeyHex = "xyz"))
    assertThrows<EgocapException.InvalidKey>("a malformed recipient") { signRecipientSet(owner.key, 3uL, listOf("age1nope")) }
}

/** A host key store that throws, or returns a key or signature that is not Ed25519. */
class BrokenKeyStore(private val key: () -> ByteArray, private val signature: (ByteArray) -> ByteArray) : KeyStore {
    constructor(key: ByteArray, signature: (ByteArray) -> ByteArray) : this({ key }, signature)
    override fun publicKey(): ByteArray = key()
    override fun sign(message: ByteArray): ByteArray = signature(message)
}

fun misbehavingKeyStore() {
    val good = JdkEd25519KeyStore()
    val locked = BrokenKeyStore(good.publicKey()) { throw KeyStoreFailure.Failed("keystore locked") }
    val e = assertThrows<EgocapException.KeyStore>("a locked key store") { registerDevice(locked, "jvm-test", null) }
    check(e.reason.contains("keystore locked")) { "reason: ${e.reason}" }
    val crashing = BrokenKeyStore(good.publicKey()) { throw IllegalStateException("HSM gone") }
    assertThrows<EgocapException.KeyStore>("a key store throwing another exception") { giveConsent(crashing, terms()) }
    val short = BrokenKeyStore(good.publicKey().copyOf(31)) { good.sign(it) }
    val shortError = assertThrows<EgocapException.KeyStore>("a 31-byte public key") { registerDevice(short, "jvm-test", null) }
    check(shortError.reason.contains("31 bytes")) { "reason: ${shortError.reason}" }
    val truncated = BrokenKeyStore(good.publicKey()) { good.sign(it).copyOf(63) }
    assertThrows<EgocapException.KeyStore>("a 63-byte signature") { registerDevice(truncated, "jvm-test", null) }
    val forged = BrokenKeyStore(good.publicKey()) { ByteArray(64) }
    assertThrows<EgocapException.KeyStore>("a signature that does not verify") { registerDevice(forged, "jvm-test", null) }
    // At start too (which reads the public key): a key store that fails there starts nothing.
    val owner = Owner()
    val consent = giveConsent(good, terms()).recordJson
    val gone = BrokenKeyStore({ throw KeyStoreFailure.Failed("key invalidated") }) { good.sign(it) }
    val startError = refusedAtStart<EgocapException.KeyStore>(
        "a key store without its key at start", sealing(good, owner, consent).copy(keystore = gone),
    )
    check(startError.reason.contains("key invalidated")) { "reason: ${startError.reason}" }
}

fun flippedByteFailsSegment() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val (session, summary) = recordSealed(sealing(device, owner, giveConsent(device, terms()).recordJson), 45)
    check(summary.segments.size >= 2) { "need 2 segments, got ${summary.segments.size}" }
    val sealed = File(session.segmentDir(), summary.segments[0].file + ".age")
    RandomAccessFile(sealed, "rw").use { file ->
        val at = file.length() / 2
        file.seek(at)
        val byte = file.read()
        file.seek(at)
        file.write(byte xor 0x01)
    }
    val report = verifyDataset(session.segmentDir(), listOf(owner.identity.secretKey), owner.keyHex)
    check(!report.allVerified) { "a flipped byte verified" }
    val (first, rest) = report.segments.partition { it.sequence == 0uL }
    val kinds = first.single().failures.map { it.kind }
    check(SegmentFailureKind.SEALED_HASH_MISMATCH in kinds) { "segment 0 failures: ${first.single().failures}" }
    check(rest.isNotEmpty() && rest.all { it.failures.isEmpty() }) { "other segments: $rest" }
    session.close()
}
