//! The `roster` binary.

use clap::Parser;
use roster_server::cli::{
    Cli, Command, JobsCommand, ScimBasicCommand, ScimCommand, ScimOauthCommand, ScimTokenCommand, TenantCommand,
};
use roster_server::{commands, telemetry};

/// mimalloc instead of glibc's malloc: see [`roster_server::memory`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    roster_server::memory::return_large_allocations();
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    roster_server::memory::sqlite_allocations();
    // The load benchmark's client stays on one thread, leaving the other cores to the server.
    let runtime = if matches!(cli.command, Command::Bench(_)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bench(args) => commands::bench::run(args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Migrate(args) => commands::ops::migrate(args).await,
        Command::Jobs { command: JobsCommand::List(args) } => commands::ops::jobs_list(args).await,
        Command::Backup(args) => commands::ops::backup(args).await,
        Command::Restore(args) => commands::ops::restore(args).await,
        Command::Doctor(args) => commands::ops::doctor(args).await,
        Command::Tenant { command: TenantCommand::Create(args) } => commands::tenant::create(args).await,
        Command::Tenant { command: TenantCommand::List(args) } => commands::tenant::list(args).await,
        Command::Tenant { command: TenantCommand::Show(args) } => commands::tenant::show(args).await,
        Command::Tenant { command: TenantCommand::Disable(args) } => commands::tenant::set_disabled(args, true).await,
        Command::Tenant { command: TenantCommand::Enable(args) } => commands::tenant::set_disabled(args, false).await,
        Command::Tenant { command: TenantCommand::Export(args) } => commands::tenant::export(args).await,
        Command::Tenant { command: TenantCommand::Delete(args) } => commands::tenant::delete(args).await,
        Command::Tenant { command: TenantCommand::Safety(args) } => commands::tenant::safety(args).await,
        Command::Scim { command: ScimCommand::Token { command: ScimTokenCommand::List(args) } } => {
            commands::scim::list_tokens(args).await
        }
        Command::Tenant { command: TenantCommand::Domain { command } } => commands::sso::domain(command).await,
        Command::Staff { command } => commands::staff::run(command).await,
        Command::Sso { command } => commands::sso::run(command).await,
        Command::Account { command: roster_server::cli::AccountCommand::ResetPassword(args) } => {
            let password = commands::read_password_stdin()?;
            let store = commands::open_store(&args.database.database_url).await?;
            roster_shared::service::accounts::reset_password(&store, &args.email, password).await?;
            println!("The password of {} is reset.", args.email.trim());
            Ok(())
        }
        Command::Scim { command: ScimCommand::Enable(args) } => commands::scim::enable(args).await,
        Command::Scim { command: ScimCommand::Token { command: ScimTokenCommand::Create(args) } } => {
            commands::scim::create_token(args).await
        }
        Command::Scim { command: ScimCommand::Oauth { command: ScimOauthCommand::Create(args) } } => {
            commands::scim::create_oauth_client(args).await
        }
        Command::Scim { command: ScimCommand::Basic { command: ScimBasicCommand::Create(args) } } => {
            commands::scim::create_basic(args).await
        }
        Command::Scim { command: ScimCommand::Token { command: ScimTokenCommand::Revoke(args) } } => {
            commands::scim::revoke_token(args).await
        }
    }
}
