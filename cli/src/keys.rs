//! `egocap keygen` and `egocap consent`: a desktop key directory holding
//! the device key, the dataset owner's signing key and age identity, the
//! signed recipient set, and consent records. On a phone the app keeps
//! these in the platform key store and its configuration instead.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use egocap_core::age::{Identity, Recipient};
use egocap_core::clock::{Clock, SystemClock};
use egocap_core::provenance::consent::{
    is_consent_id, ActiveConsent, ConsentRecord, ConsentTerms, ConsentWithdrawal, Controller, Notice,
};
use egocap_core::provenance::identity::{DeviceRegistration, RecipientSet, TrustedRecipientSet};
use egocap_core::provenance::keystore::{write_private_file, FileKeyStore, KeyStore, PublicKey};
use egocap_core::provenance::record::{RecordBody, SignedRecord};
use egocap_core::provenance::values::UtcInstant;

pub const DEVICE_KEY: &str = "device.key";
pub const DEVICE_RECORD: &str = "device.json";
pub const OWNER_KEY: &str = "owner.key";
pub const OWNER_PUB: &str = "owner.pub";
pub const RECIPIENT_IDENTITY: &str = "recipient.age";
pub const RECIPIENT_PUB: &str = "recipient.pub";
pub const RECIPIENT_SET: &str = "recipients.json";

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Key directory; existing keys in it are kept, never overwritten.
    #[arg(long, default_value = "egocap-keys")]
    pub out: PathBuf,
    /// More `age1…` recipients for the recipient set, besides the one made here.
    #[arg(long = "recipient")]
    pub recipients: Vec<String>,
    /// Version of the recipient set written (re-signs it when recipients are given).
    #[arg(long, default_value_t = 1)]
    pub set_version: u64,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ConsentCommand {
    /// Record the worker's consent on this device; prints the consent file.
    Give(GiveArgs),
    /// Withdraw a consent from now on.
    Withdraw {
        #[arg(long, default_value = "egocap-keys")]
        keys: PathBuf,
        #[arg(long)]
        consent: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct GiveArgs {
    #[arg(long, default_value = "egocap-keys")]
    pub keys: PathBuf,
    /// The worker's pseudonymous id (never a name, e-mail or phone number).
    #[arg(long)]
    pub worker: String,
    /// The notice text the worker read; its SHA-256 goes into the record.
    #[arg(long)]
    pub notice: PathBuf,
    #[arg(long, default_value = "en")]
    pub language: String,
    #[arg(long, default_value = "Example Robotics Dataset Ltd")]
    pub controller: String,
    #[arg(long, default_value = "https://example.org/privacy")]
    pub contact: String,
    #[arg(long, default_value = "DE")]
    pub jurisdiction: String,
}

pub fn now() -> UtcInstant {
    UtcInstant(SystemClock.utc_unix_ns())
}

pub fn keygen(args: &KeygenArgs) -> Result<()> {
    let dir = &args.out;
    create_private_dir(dir)?;
    let device = open_or_generate(&dir.join(DEVICE_KEY))?;
    if !dir.join(DEVICE_RECORD).exists() {
        let registration = DeviceRegistration::sign(&device, "desktop", None, now())?;
        write_record_file(&dir.join(DEVICE_RECORD), &registration)?;
    }
    let owner = open_or_generate(&dir.join(OWNER_KEY))?;
    fs::write(dir.join(OWNER_PUB), format!("{}\n", owner.public_key()?))?;
    let identity = open_or_generate_identity(&dir.join(RECIPIENT_IDENTITY))?;
    fs::write(dir.join(RECIPIENT_PUB), format!("{}\n", identity.recipient()))?;
    let set_path = dir.join(RECIPIENT_SET);
    if !set_path.exists() || !args.recipients.is_empty() {
        if set_path.exists() {
            // One version, one set: re-signing a version with other recipients
            // would let two different sets claim it.
            let RecordBody::RecipientSet(existing) = read_record(&set_path)?.body().clone() else {
                bail!("{} is not a recipient set", set_path.display());
            };
            if args.set_version <= existing.version {
                bail!("recipient set version {} exists; pass --set-version {}", existing.version, existing.version + 1);
            }
            fs::remove_file(&set_path)?;
        }
        let mut recipients = vec![identity.recipient()];
        for text in &args.recipients {
            recipients.push(Recipient::parse(text).with_context(|| format!("recipient {text:?}"))?);
        }
        let set = RecipientSet::sign(&owner, args.set_version, &recipients, now())?;
        write_record_file(&set_path, &set)?;
    }
    println!("device key      {}  ({})", device.public_key()?, dir.join(DEVICE_KEY).display());
    println!("owner key       {}  ({})", owner.public_key()?, dir.join(OWNER_KEY).display());
    println!("age recipient   {}  (identity: {})", identity.recipient(), dir.join(RECIPIENT_IDENTITY).display());
    println!("recipient set   {}", dir.join(RECIPIENT_SET).display());
    Ok(())
}

pub fn consent(command: &ConsentCommand) -> Result<()> {
    match command {
        ConsentCommand::Give(args) => {
            let path = give_consent(args)?;
            println!("{}", path.display());
        }
        ConsentCommand::Withdraw { keys, consent } => {
            let device = FileKeyStore::open(&keys.join(DEVICE_KEY))?;
            let record = read_record(consent)?;
            let RecordBody::Consent(body) = record.body() else {
                bail!("{} is not a consent record", consent.display())
            };
            // A withdrawal from another device would withdraw nothing.
            if body.device_key != device.public_key()? {
                bail!(
                    "consent {} was given on device {}, not this one: withdraw it there",
                    body.consent_id,
                    body.device_key
                );
            }
            if !is_consent_id(&body.consent_id) {
                bail!("{} has a malformed consent id", consent.display());
            }
            let withdrawal = ConsentWithdrawal::sign(&device, &body.consent_id, now())?;
            let path = keys.join(format!("withdrawal-{}.json", body.consent_id));
            write_record_file(&path, &withdrawal)?;
            println!("{}", path.display());
        }
    }
    Ok(())
}

pub fn give_consent(args: &GiveArgs) -> Result<PathBuf> {
    let device = FileKeyStore::open(&args.keys.join(DEVICE_KEY))?;
    let notice_text =
        fs::read_to_string(&args.notice).with_context(|| format!("reading notice {}", args.notice.display()))?;
    let terms = ConsentTerms::egocentric_video(
        Controller { name: args.controller.clone(), contact: args.contact.clone() },
        &args.jurisdiction,
        Notice::of_text(&notice_text, &args.language),
        &args.worker,
    );
    let record = ConsentRecord::give(&device, terms, now())?;
    let RecordBody::Consent(body) = record.body() else { bail!("internal: consent record of another type") };
    let path = args.keys.join(format!("consent-{}.json", body.consent_id));
    write_record_file(&path, &record)?;
    Ok(path)
}

/// What `record` needs from a key directory and a consent file.
pub struct SealingKeys {
    pub device: FileKeyStore,
    pub registration: SignedRecord,
    pub recipients: TrustedRecipientSet,
    pub consent: ActiveConsent,
}

pub fn load_sealing_keys(dir: &Path, consent_file: &Path) -> Result<SealingKeys> {
    let device = FileKeyStore::open(&dir.join(DEVICE_KEY))?;
    let registration = read_record(&dir.join(DEVICE_RECORD))?;
    let owner_key = read_owner_key(&dir.join(OWNER_PUB))?;
    let recipients = TrustedRecipientSet::check(&read_record(&dir.join(RECIPIENT_SET))?, &owner_key)?;
    let withdrawals = read_withdrawals(dir)?;
    let consent = ActiveConsent::check(&read_record(consent_file)?, &withdrawals, &device.public_key()?)?;
    Ok(SealingKeys { device, registration, recipients, consent })
}

pub fn read_record(path: &Path) -> Result<SignedRecord> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SignedRecord::parse(&bytes).with_context(|| format!("record {}", path.display()))
}

pub fn read_owner_key(path: &Path) -> Result<PublicKey> {
    let text = fs::read_to_string(path).with_context(|| format!("reading owner key {}", path.display()))?;
    PublicKey::from_hex(text.trim()).with_context(|| format!("owner key {}", path.display()))
}

fn read_withdrawals(dir: &Path) -> Result<Vec<SignedRecord>> {
    let mut records = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("withdrawal-") && name.ends_with(".json") {
            records.push(read_record(&path)?);
        }
    }
    Ok(records)
}

/// A new record file, fsynced with its directory: a withdrawal reported as
/// done must survive a power cut.
fn write_record_file(path: &Path, record: &SignedRecord) -> Result<()> {
    write_private_file(path, record.canonical_bytes()).with_context(|| format!("writing {}", path.display()))
}

fn open_or_generate(path: &Path) -> Result<FileKeyStore> {
    if path.exists() {
        Ok(FileKeyStore::open(path)?)
    } else {
        Ok(FileKeyStore::generate(path)?)
    }
}

fn open_or_generate_identity(path: &Path) -> Result<Identity> {
    if path.exists() {
        let text = zeroize::Zeroizing::new(fs::read_to_string(path)?);
        let mut identities = egocap_core::age::parse_identity_file(&text)?;
        if identities.is_empty() {
            bail!("{} holds no identity", path.display());
        }
        return Ok(identities.swap_remove(0));
    }
    let identity = Identity::generate()?;
    let text = zeroize::Zeroizing::new(format!(
        "# created: {}\n# public key: {}\n{}\n",
        now().to_rfc3339(),
        identity.recipient(),
        identity.to_secret_string().as_str()
    ));
    write_private_file(path, text.as_bytes())?;
    Ok(identity)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
