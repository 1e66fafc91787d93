;;; typilot-lsp-mode.el --- Typilot LSP through lsp-mode  -*- lexical-binding: t; -*-

;; Typilot LSP streams code from a local Ollama model into the buffer:
;; write `# gen: parse an ISO date' (or `fix:' / `sum:') on a line, then
;; run a code action on it.
;;
;; lsp-mode runs Typilot as an add-on server, next to your usual language
;; server (pyright, gopls, ...).  Tested with lsp-mode 8 (Debian `elpa-lsp-mode').
;; Install: put this file in a directory on `load-path' and add to your init:
;;
;;   (require 'typilot-lsp-mode)
;;   (add-hook 'python-mode-hook #'lsp-deferred)
;;
;; Commands: `typilot-lsp-run' (run the prefixed line at point),
;; `typilot-lsp-cancel' (stop this buffer's run), `typilot-lsp-cancel-all'.
;; See editors/emacs/README.md for what lsp-mode can and cannot do.

;;; Code:

(require 'cl-lib)
(require 'lsp-mode)
(require 'subr-x)

(defgroup typilot nil
  "Typilot LSP: gen:/fix:/sum: runs streamed from a local Ollama model."
  :group 'tools
  :prefix "typilot-")

(defcustom typilot-lsp-program "typilot-lsp"
  "The Typilot language server executable (an absolute path or a name on PATH)."
  :type 'string)

(defcustom typilot-lsp-languages
  '("python" "javascript" "typescript" "c" "cpp" "go" "rust" "shellscript"
    "lua" "ruby" "java")
  "LSP languageIds (see `lsp-language-id-configuration') Typilot serves.
Set this before loading this file."
  :type '(repeat string))

(defcustom typilot-settings
  '(:ollama (:model "qwen2.5-coder:1.5b" :keepAlive "5m")
    :privacy (:allowRemoteHost :json-false :allowCloudModels :json-false)
    :history (:enabled t :retentionDays 30)
    :trace :json-false)
  "The `typilot' settings section, as a plist (camelCase keys, as on the wire).
Use `:json-false' for false.  Sent as initializationOptions and returned for
workspace/configuration; after changing it run `typilot-lsp-send-settings'."
  :type 'plist)

(defun typilot-lsp--flatten (plist path)
  "Turn PLIST (a part of the settings at dotted PATH) into custom settings.
Each entry is (DOTTED-PATH VALUE BOOLEAN?) as `lsp-register-custom-settings'
wants them."
  (cl-loop for (key value) on plist by #'cddr
           for here = (concat path "." (substring (symbol-name key) 1))
           append (cond ((and (consp value) (keywordp (car value)))
                         (typilot-lsp--flatten value here))
                        ((memq value '(t :json-false))
                         (list (list here (eq value t) t)))
                        (t (list (list here value))))))

(defun typilot-lsp--register-settings ()
  "Register `typilot-settings' so lsp-mode answers workspace/configuration."
  (lsp-register-custom-settings (typilot-lsp--flatten typilot-settings "typilot")))

(typilot-lsp--register-settings)

(defun typilot-lsp--command ()
  "The command line lsp-mode starts: `typilot-lsp-program' --stdio."
  (list typilot-lsp-program "--stdio"))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection #'typilot-lsp--command)
  :activation-fn (apply #'lsp-activate-on typilot-lsp-languages)
  :server-id 'typilot
  :add-on? t
  :priority -2
  :initialization-options (lambda () (list :typilot typilot-settings))))

(defun typilot-lsp--workspace ()
  "The Typilot workspace of this buffer, or an error saying how to start it."
  (or (cl-find-if (lambda (ws)
                    (eq (lsp--client-server-id (lsp--workspace-client ws)) 'typilot))
                  (lsp-workspaces))
      (user-error "Typilot is not running in this buffer: M-x lsp (or lsp-deferred in the mode hook)")))

(defun typilot-lsp--error-message (error)
  "The message of a JSON-RPC ERROR (lsp-mode passes one, or a list of them)."
  (let ((err (if (lsp-json-error? error) error (car-safe error))))
    (if (lsp-json-error? err) (lsp:json-error-message err) (format "%s" error))))

(defun typilot-lsp--execute (command arguments on-result)
  "Send workspace/executeCommand COMMAND with ARGUMENTS.
ON-RESULT is called with the answer.
Asynchronous on purpose: lsp-mode's synchronous `lsp-request' stops
reading a chunk at its answer, and the run's first progress notification
can come in the same chunk right behind it (then the run never shows)."
  (with-lsp-workspace (typilot-lsp--workspace)
    (lsp-request-async "workspace/executeCommand"
                       (list :command command :arguments (or arguments []))
                       on-result
                       :error-handler (lambda (error)
                                        (message "%s" (typilot-lsp--error-message error)))
                       :mode 'detached)))

(defun typilot-lsp--typilot-action-p (action)
  "Non-nil when ACTION (a CodeAction or Command) is one of Typilot's."
  (string-prefix-p "Typilot:" (or (lsp:code-action-title action) "")))

(defun typilot-lsp-run ()
  "Run the Typilot prefix on the current line (or in the active region).
When several Typilot actions apply, pick one.  `typilot-lsp-cancel' stops it.
Only the Typilot server is asked, so other servers' actions stay out of the way."
  (interactive)
  (let ((workspace (typilot-lsp--workspace))
        (buffer (current-buffer)))
    ;; Asynchronous like `typilot-lsp--execute': another run's edits may be streaming in.
    (with-lsp-workspace workspace
      (lsp-request-async "textDocument/codeAction" (lsp--text-document-code-action-params)
                         (lambda (actions)
                           (with-current-buffer buffer
                             (typilot-lsp--run-action workspace actions)))
                         :error-handler (lambda (error)
                                          (message "%s" (typilot-lsp--error-message error)))
                         :mode 'detached))))

(defun typilot-lsp--run-action (workspace actions)
  "Run the Typilot action among ACTIONS (asking which when several) in WORKSPACE."
  (let* ((ours (cl-remove-if-not #'typilot-lsp--typilot-action-p (append actions nil)))
         (action (cond ((null ours) nil)
                       ((null (cdr ours)) (car ours))
                       (t (lsp--select-action ours))))
         (command (and action
                       (if (stringp (lsp:code-action-command? action))
                           action
                         (lsp:code-action-command? action)))))
    (if (null action)
        (message "No Typilot prefix here (write `gen: ...', `fix:' or `sum:')")
      (when (lsp:code-action-edit? action)
        (lsp--apply-workspace-edit (lsp:code-action-edit? action) 'code-action))
      (when command
        (with-lsp-workspace workspace
          (typilot-lsp--execute (lsp:command-command command)
                                (lsp:command-arguments? command)
                                #'ignore))))))

(defun typilot-lsp--report-cancelled (result)
  "Say how many runs the cancel RESULT stopped."
  (message "Typilot: %s run(s) cancelled" (or (and result (lsp-get result :cancelled)) 0)))

(defun typilot-lsp-cancel ()
  "Stop the Typilot run streaming into this buffer."
  (interactive)
  (typilot-lsp--execute "typilot.cancel" (vector (list :uri (lsp--buffer-uri)))
                        #'typilot-lsp--report-cancelled))

(defun typilot-lsp-cancel-all ()
  "Stop every Typilot run of this project's server."
  (interactive)
  (typilot-lsp--execute "typilot.cancel" [] #'typilot-lsp--report-cancelled))

(defun typilot-lsp-send-settings ()
  "Send `typilot-settings' to the running server.
Uses workspace/didChangeConfiguration; no restart needed."
  (interactive)
  (typilot-lsp--register-settings)
  (with-lsp-workspace (typilot-lsp--workspace)
    (lsp--set-configuration (lsp-configuration-section "typilot"))))

(provide 'typilot-lsp-mode)
;;; typilot-lsp-mode.el ends here
