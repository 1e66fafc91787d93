//! Zed starts only the language servers an extension registers; this one
//! registers `typilot` and starts `typilot-lsp --stdio` with the user's
//! `lsp.typilot` settings (binary, initialization_options, settings).

use zed_extension_api::{self as zed, serde_json::Value, settings::LspSettings, Result};

struct Typilot;

fn lsp_settings(id: &zed::LanguageServerId, worktree: &zed::Worktree) -> LspSettings {
    LspSettings::for_worktree(id.as_ref(), worktree).unwrap_or_default()
}

impl zed::Extension for Typilot {
    fn new() -> Self {
        Typilot
    }

    fn language_server_command(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let binary = lsp_settings(id, worktree).binary;
        let configured = binary.as_ref().and_then(|b| b.path.clone());
        let command = match configured {
            Some(path) if path.contains('/') || path.contains('\\') => path,
            Some(name) => worktree.which(&name).unwrap_or(name),
            None => worktree.which("typilot-lsp").ok_or_else(|| {
                "typilot-lsp is not on PATH: install it (pipx install typilot-lsp) or set \
                 lsp.typilot.binary.path in settings.json"
                    .to_string()
            })?,
        };
        let args = binary
            .and_then(|b| b.arguments)
            .unwrap_or_else(|| vec!["--stdio".to_string()]);
        Ok(zed::Command {
            command,
            args,
            env: worktree.shell_env(),
        })
    }

    fn language_server_initialization_options(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<Value>> {
        Ok(lsp_settings(id, worktree).initialization_options)
    }

    fn language_server_workspace_configuration(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<Value>> {
        Ok(lsp_settings(id, worktree).settings)
    }
}

zed::register_extension!(Typilot);
