// An argument whose type is neither Debug nor Serialize cannot be logged.
struct Password(String);

#[stogger_core::log_call]
fn login(user: &str, password: Password) {
    let _ = (user, password.0);
}

fn main() {
    login("alice", Password(String::new()));
}
