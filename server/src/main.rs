//! The `roster` binary.

use clap::Parser;
use roster_server::cli::{
    Cli, Command, ScimBasicCommand, ScimCommand, ScimOauthCommand, ScimTokenCommand, TenantCommand,
};
use roster_server::{commands, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Migrate(args) => commands::migrate::run(args).await,
        Command::Tenant { command: TenantCommand::Create(args) } => commands::tenant::create(args).await,
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
