;;; typilot-eglot.el --- Typilot LSP through Eglot  -*- lexical-binding: t; -*-

;; Typilot LSP streams code from a local Ollama model into the buffer:
;; write `# gen: parse an ISO date' (or `fix:' / `sum:') on a line, then
;; run a code action on it.
;;
;; Works with Eglot 1.9 (Debian/Ubuntu `elpa-eglot', Emacs 28) and with
;; the Eglot built into Emacs 29 and later.  Install: put this file in a
;; directory on `load-path' and add to your init file:
;;
;;   (require 'typilot-eglot)
;;   (add-hook 'python-mode-hook #'eglot-ensure)   ; or M-x eglot
;;
;; Commands: `typilot-run' (run the prefixed line at point),
;; `typilot-cancel' (stop this buffer's run), `typilot-cancel-all'.
;; See editors/emacs/README.md for what Eglot can and cannot do.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)
(require 'subr-x)
(require 'url-util)

(defgroup typilot nil
  "Typilot LSP: gen:/fix:/sum: runs streamed from a local Ollama model."
  :group 'tools
  :prefix "typilot-")

(defcustom typilot-lsp-program "typilot-lsp"
  "The Typilot language server executable (an absolute path or a name on PATH)."
  :type 'string)

(defcustom typilot-major-modes
  '((python-mode . "python") (python-ts-mode . "python")
    (js-mode . "javascript") (js-ts-mode . "javascript")
    (typescript-mode . "typescript") (typescript-ts-mode . "typescript")
    (c-mode . "c") (c-ts-mode . "c") (c++-mode . "cpp") (c++-ts-mode . "cpp")
    (go-mode . "go") (go-ts-mode . "go")
    (rust-mode . "rust") (rust-ts-mode . "rust")
    (sh-mode . "shellscript") (bash-ts-mode . "shellscript")
    (lua-mode . "lua") (ruby-mode . "ruby") (ruby-ts-mode . "ruby")
    (java-mode . "java") (java-ts-mode . "java"))
  "Major modes whose buffers Eglot manages with Typilot, with their LSP languageId.
Eglot runs one server per buffer: for these modes Typilot replaces any other
language server you had configured (see README.md).  Set this before loading
this file."
  :type '(alist :key-type symbol :value-type string))

(defcustom typilot-settings
  '(:ollama (:model "qwen2.5-coder:1.5b" :keepAlive "5m")
    :privacy (:allowRemoteHost :json-false :allowCloudModels :json-false)
    :history (:enabled t :retentionDays 30)
    :trace :json-false)
  "The `typilot' settings section, as a plist (camelCase keys, as on the wire).
Use `:json-false' for false.  Sent as initializationOptions and returned for
workspace/configuration; after changing it, run
`typilot-send-settings' (or restart the server with `eglot-reconnect')."
  :type 'plist)

;; Streamed text arrives as workspace/applyEdit requests.  Eglot asks before
;; applying each server-initiated edit unless this is nil; a run makes many.
(setq eglot-confirm-server-initiated-edits nil)

(defun typilot--initialization-options (_server)
  "InitializationOptions for the Typilot server: the `typilot' section."
  (list :typilot typilot-settings))

(defun typilot--contact ()
  "The Eglot contact for Typilot: program, arguments, initializationOptions."
  (list typilot-lsp-program "--stdio"
        :initializationOptions #'typilot--initialization-options))

(dolist (entry (reverse typilot-major-modes))
  (add-to-list 'eglot-server-programs
               (cons (list (car entry) :language-id (cdr entry))
                     (typilot--contact))))

(defvar typilot--previous-workspace-configuration
  (default-value 'eglot-workspace-configuration)
  "The default `eglot-workspace-configuration' before this file was loaded.")

(defun typilot--workspace-configuration (server)
  "Answer workspace/configuration: the `typilot' section plus any other sections.
SERVER is the Eglot connection asking."
  (let ((others (if (functionp typilot--previous-workspace-configuration)
                    (funcall typilot--previous-workspace-configuration server)
                  typilot--previous-workspace-configuration)))
    (append (list :typilot typilot-settings)
            (and (keywordp (car-safe others)) others))))

(setq-default eglot-workspace-configuration #'typilot--workspace-configuration)

(defun typilot--server ()
  "The Eglot server managing this buffer, or an error saying how to start one."
  (or (eglot-current-server)
      (user-error "No Eglot server in this buffer: M-x eglot (or eglot-ensure in the mode hook)")))

(defun typilot--buffer-uri ()
  "The file URI of the current buffer, as Eglot sends it."
  (unless buffer-file-name
    (user-error "This buffer is not visiting a file"))
  (if (fboundp 'eglot-path-to-uri)
      (funcall 'eglot-path-to-uri buffer-file-name)
    (funcall 'eglot--path-to-uri buffer-file-name)))

(defun typilot--execute (server command arguments)
  "Send workspace/executeCommand COMMAND with ARGUMENTS to SERVER."
  (jsonrpc-request server :workspace/executeCommand
                   (list :command command :arguments (or arguments []))))

(defun typilot--actions (beg end)
  "Typilot's code actions between BEG and END."
  (cl-remove-if-not
   (lambda (action) (string-prefix-p "Typilot:" (or (plist-get action :title) "")))
   (append (eglot-code-actions beg end nil nil) nil)))

(defun typilot--execute-action (server action)
  "Execute ACTION, a Typilot code action (CodeAction or Command), on SERVER.
Typilot's actions carry only a command (`typilot.run'), never an edit: the
text arrives afterwards through workspace/applyEdit.  Returns the server's
answer, e.g. (:runId \"1\")."
  (let* ((command (plist-get action :command))
         (command (if (stringp command) action command)))
    (typilot--execute server (plist-get command :command)
                      (plist-get command :arguments))))

(defun typilot-run (&optional beg end)
  "Run the Typilot prefix on the current line (or in the active region).
BEG and END default to the region when active, else the current line.  When
several Typilot actions apply (a region with several prefixed lines), pick one.
The text streams into the buffer; `typilot-cancel' stops it."
  (interactive)
  (let* ((server (typilot--server))
         (beg (or beg (if (use-region-p) (region-beginning) (line-beginning-position))))
         (end (or end (if (use-region-p) (region-end) (line-end-position))))
         (actions (typilot--actions beg end))
         (titles (mapcar (lambda (a) (plist-get a :title)) actions))
         (action (cond ((null actions)
                        (user-error "No Typilot prefix here (write `gen: ...', `fix:' or `sum:')"))
                       ((null (cdr actions)) (car actions))
                       (t (nth (cl-position (completing-read "Typilot run: " titles nil t)
                                            titles :test #'equal)
                               actions)))))
    (typilot--execute-action server action)))

(defun typilot-cancel ()
  "Stop the Typilot run streaming into this buffer."
  (interactive)
  (typilot--execute (typilot--server) "typilot.cancel"
                    (vector (list :uri (typilot--buffer-uri)))))

(defun typilot-cancel-all ()
  "Stop every Typilot run of this buffer's server."
  (interactive)
  (typilot--execute (typilot--server) "typilot.cancel" []))

(defun typilot-send-settings ()
  "Send `typilot-settings' to the running server.
Uses workspace/didChangeConfiguration; no restart needed."
  (interactive)
  (eglot-signal-didChangeConfiguration (typilot--server)))

(provide 'typilot-eglot)
;;; typilot-eglot.el ends here
