//! Accounts: email normalisation, the password policy, argon2id hashing (off the async executor),
//! sign-up, sign-in without account enumeration, password change, roles and the admin user list.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use entity::email_token::Purpose;
use entity::user_account;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};

use crate::secret::Secret;

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;
const EMAIL_MAX_LEN: usize = 254;

/// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_ITERATIONS: u32 = 2;
const ARGON2_LANES: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Role {
        // Anything unexpected in the column is treated as the least privileged role.
        if s == "admin" { Role::Admin } else { Role::Customer }
    }
}

/// An account as the rest of the system sees it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub pid: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The owner proved the address is theirs; only then does paid time bought with it arrive.
    pub email_verified: bool,
}

impl From<user_account::Model> for Account {
    fn from(m: user_account::Model) -> Self {
        Self {
            id: m.id,
            pid: m.pid,
            email: m.email,
            role: Role::parse(&m.role),
            created_at: m.created_at,
            last_seen_at: m.last_seen_at,
            email_verified: m.email_verified_at.is_some(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("enter a valid email address, like name@example.com")]
    InvalidEmail,
    #[error("use at least {PASSWORD_MIN_CHARS} characters")]
    PasswordTooShort,
    #[error("use at most {PASSWORD_MAX_CHARS} characters")]
    PasswordTooLong,
    #[error("an account with this email already exists; sign in instead")]
    EmailTaken,
    /// One message whatever was wrong: unknown email and wrong password look the same.
    #[error("the email or password is not right")]
    InvalidCredentials,
    #[error("the current password is not right")]
    WrongCurrentPassword,
    #[error("no account with that email")]
    NotFound,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Trims and lower-cases; rejects what cannot be an address. Deliberately simple: one `@`,
/// a non-empty local part, a dotted domain, no spaces or control characters.
pub fn normalize_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > EMAIL_MAX_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AccountError::InvalidEmail);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(AccountError::InvalidEmail);
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok {
        return Err(AccountError::InvalidEmail);
    }
    Ok(email)
}

/// Length only (counted in characters, so any script works); no composition rules.
pub fn check_password_policy(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        Err(AccountError::PasswordTooShort)
    } else if chars > PASSWORD_MAX_CHARS {
        Err(AccountError::PasswordTooLong)
    } else {
        Ok(())
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most one argon2 computation per core at a time: each takes 19 MiB and most of a core, so
/// a burst of sign-ins (or an attacker's) queues here instead of exhausting memory and the
/// blocking pool.
static ARGON2_SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(argon2_slots()));

pub fn argon2_slots() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Argon2 computations this process started: what an attacker could make us spend (exposed
/// at `/metrics`; a made-up reset token must not move it).
static ARGON2_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn argon2_runs() -> u64 {
    ARGON2_RUNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs one argon2 computation on the blocking pool, within [`ARGON2_SLOTS`].
async fn with_argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AccountError> {
    ARGON2_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _slot = ARGON2_SLOTS
        .acquire()
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
    #[cfg(test)]
    let _busy = tests::Busy::start();
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

/// Hashes on the blocking pool: 19 MiB of memory-hard work must not stall the async executor.
pub async fn hash_password(password: Secret<String>) -> Result<String, AccountError> {
    with_argon2(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await?
}

async fn verify_password(password: Secret<String>, phc: String) -> bool {
    with_argon2(move || {
        PasswordHash::new(&phc)
            .is_ok_and(|parsed| hasher().verify_password(password.expose().as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Verified against when the email is unknown, so both paths cost one argon2 verification.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(b"not-a-real-password-at-all", &salt)
        .expect("dummy hash")
        .to_string()
});

/// A customer's own sign-up: the address is unproven until its verification link is used, so
/// nothing paid with it is claimed yet (whoever registers someone else's address gets nothing).
pub async fn sign_up(db: &DatabaseConnection, email: &str, password: Secret<String>) -> Result<Account, AccountError> {
    insert(db, email, password, Role::Customer, false).await
}

/// An account the operator makes (CLI, demo): the operator vouches for the address, so it counts
/// as verified and payments made with it are linked at once.
pub async fn create(
    db: &DatabaseConnection,
    email: &str,
    password: Secret<String>,
    role: Role,
) -> Result<Account, AccountError> {
    insert(db, email, password, role, true).await
}

async fn insert(
    db: &DatabaseConnection,
    email: &str,
    password: Secret<String>,
    role: Role,
    verified: bool,
) -> Result<Account, AccountError> {
    let email = normalize_email(email)?;
    check_password_policy(password.expose())?;
    if find_by_email(db, &email).await?.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = hash_password(password).await?;
    let now = Utc::now();
    let model = user_account::ActiveModel {
        pid: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_owned()),
        created_at: Set(now),
        last_seen_at: Set(None),
        password_changed_at: Set(now),
        email_verified_at: Set(verified.then_some(now)),
        ..Default::default()
    };
    match model.insert(db).await {
        Ok(m) => {
            if verified {
                // Paid before the account existed: payments made with this address now count.
                crate::payments::processing::link_account(db, m.id, &m.email).await?;
            }
            Ok(m.into())
        }
        // Two sign-ups racing for one email: the unique index decides, the loser gets the same answer.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(AccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn find_by_email(
    db: &impl sea_orm::ConnectionTrait,
    email: &str,
) -> Result<Option<user_account::Model>, DbErr> {
    user_account::Entity::find()
        .filter(user_account::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Account>, DbErr> {
    Ok(user_account::Entity::find_by_id(id).one(db).await?.map(Account::from))
}

/// Checks email and password. Unknown emails are verified against a dummy hash so the answer
/// takes as long, and reads the same, as a wrong password.
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: Secret<String>,
) -> Result<Account, AccountError> {
    let found = match normalize_email(email) {
        Ok(email) => find_by_email(db, &email).await?,
        Err(_) => None,
    };
    let phc = found
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |m| m.password_hash.clone());
    let ok = verify_password(password, phc).await;
    match found {
        Some(m) if ok => {
            // Closes the one race verification leaves open: a payment processed while the address
            // was being verified waits with the email; the next sign-in claims it.
            if m.email_verified_at.is_some() {
                crate::payments::processing::link_account(db, m.id, &m.email).await?;
            }
            Ok(m.into())
        }
        _ => Err(AccountError::InvalidCredentials),
    }
}

/// Changes the password and, in the same transaction, signs out every session but `keep` (the
/// one asking): nobody who knew the old password stays signed in, and a failure changes neither.
pub async fn change_password(
    db: &DatabaseConnection,
    user_id: i64,
    keep: i64,
    current: Secret<String>,
    new: Secret<String>,
) -> Result<(), AccountError> {
    check_password_policy(new.expose())?;
    let model = user_account::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AccountError::NotFound)?;
    if !verify_password(current, model.password_hash.clone()).await {
        return Err(AccountError::WrongCurrentPassword);
    }
    let hash = hash_password(new).await?;
    let txn = crate::database::begin_write(db).await?;
    let mut active: user_account::ActiveModel = model.into();
    active.password_hash = Set(hash);
    active.password_changed_at = Set(Utc::now());
    active.update(&txn).await?;
    crate::sessions::revoke_others_in(&txn, user_id, keep).await?;
    // Links mailed before the change would be a way around it.
    crate::mailed_links::use_up(&txn, user_id, &[Purpose::Reset, Purpose::SignIn]).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets an account's role. Lowering it ends every session of the account at once (open pages
/// and sockets included): rights granted under the old role must not outlive it.
pub async fn set_role(db: &DatabaseConnection, email: &str, role: Role) -> Result<Account, AccountError> {
    let email = normalize_email(email)?;
    let model = find_by_email(db, &email).await?.ok_or(AccountError::NotFound)?;
    let demoted = Role::parse(&model.role) == Role::Admin && role != Role::Admin;
    let txn = crate::database::begin_write(db).await?;
    let mut active: user_account::ActiveModel = model.into();
    active.role = Set(role.as_str().to_owned());
    let account: Account = active.update(&txn).await?.into();
    if demoted {
        crate::sessions::revoke_all_in(&txn, account.id).await?;
    }
    txn.commit().await?;
    Ok(account)
}

pub struct UserPage {
    pub users: Vec<Account>,
    pub total: u64,
}

/// The admin user list: newest first, filtered by a case-insensitive email substring.
pub async fn list(db: &DatabaseConnection, query: &str, page: u64, per_page: u64) -> Result<UserPage, DbErr> {
    let mut select = user_account::Entity::find()
        .order_by_desc(user_account::Column::CreatedAt)
        .order_by_desc(user_account::Column::Id);
    let query = query.trim().to_lowercase();
    if !query.is_empty() {
        // Emails are stored lower-cased, so a plain LIKE is case-insensitive on both engines.
        select = select.filter(Condition::all().add(user_account::Column::Email.contains(&query)));
    }
    let paginator = select.paginate(db, per_page.clamp(1, 100));
    let total = paginator.num_items().await?;
    let users = paginator
        .fetch_page(page)
        .await?
        .into_iter()
        .map(Account::from)
        .collect();
    Ok(UserPage { users, total })
}

/// The account id for an (already normalised) email, if there is an account.
pub async fn id_for_email(db: &DatabaseConnection, email: &str) -> Result<Option<i64>, DbErr> {
    Ok(find_by_email(db, email).await?.map(|a| a.id))
}

/// The account that proved it owns `email` (verified it, or was made by the operator): the
/// only one paid or given time for that address reaches. `None` while nobody has.
pub async fn proven_owner(db: &impl sea_orm::ConnectionTrait, email: &str) -> Result<Option<i64>, DbErr> {
    Ok(user_account::Entity::find()
        .filter(user_account::Column::Email.eq(email))
        .filter(user_account::Column::EmailVerifiedAt.is_not_null())
        .one(db)
        .await?
        .map(|a| a.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUSY: AtomicUsize = AtomicUsize::new(0);
    static MOST_BUSY: AtomicUsize = AtomicUsize::new(0);

    /// Counts argon2 computations running at once (test builds only).
    pub(super) struct Busy;

    impl Busy {
        pub(super) fn start() -> Self {
            let now = BUSY.fetch_add(1, Ordering::SeqCst) + 1;
            MOST_BUSY.fetch_max(now, Ordering::SeqCst);
            Busy
        }
    }

    impl Drop for Busy {
        fn drop(&mut self) {
            BUSY.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn argon2_work_never_exceeds_one_computation_per_core() {
        let hashes: Vec<_> = (0..4 * argon2_slots())
            .map(|i| tokio::spawn(hash_password(Secret::new(format!("password number {i:04}")))))
            .collect();
        for h in hashes {
            h.await.unwrap().unwrap();
        }
        let most = MOST_BUSY.load(Ordering::SeqCst);
        assert!(
            (1..=argon2_slots()).contains(&most),
            "{most} at once with {} slots",
            argon2_slots()
        );
    }

    #[test]
    fn emails_are_trimmed_and_case_folded() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.com",
            "ada@example..com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_policy_counts_characters_not_bytes_and_has_no_composition_rules() {
        assert!(matches!(
            check_password_policy("short"),
            Err(AccountError::PasswordTooShort)
        ));
        assert!(
            check_password_policy("aaaaaaaaaaaa").is_ok(),
            "12 lower-case letters are enough"
        );
        assert!(check_password_policy(&"é".repeat(12)).is_ok());
        assert!(
            check_password_policy(&"x".repeat(64)).is_ok(),
            "64 characters allowed (S2)"
        );
        assert!(check_password_policy(&"x".repeat(128)).is_ok());
        assert!(matches!(
            check_password_policy(&"x".repeat(129)),
            Err(AccountError::PasswordTooLong)
        ));
        assert!(matches!(
            check_password_policy(&"x".repeat(10_000)),
            Err(AccountError::PasswordTooLong)
        ));
    }

    #[tokio::test]
    async fn s1_hashes_are_argon2id_with_owasp_parameters_and_unique_salts() {
        let a = hash_password(Secret::new("correct horse battery".into()))
            .await
            .unwrap();
        let b = hash_password(Secret::new("correct horse battery".into()))
            .await
            .unwrap();
        assert_ne!(a, b, "same password, different salt");
        let parsed = PasswordHash::new(&a).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).unwrap();
        assert!(
            params.m_cost() >= 19 * 1024 && params.t_cost() >= 2 && params.p_cost() == 1,
            "{a}"
        );
        assert!(verify_password(Secret::new("correct horse battery".into()), a.clone()).await);
        assert!(!verify_password(Secret::new("wrong horse battery".into()), a).await);
    }
}
