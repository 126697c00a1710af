// A name in exclude_args that is no argument is a mistake worth an error.
#[stogger_core::log_operation(exclude_args = [pasword])]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("alice", "secret");
}
