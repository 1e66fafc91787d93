;;; lsp_mode_driver.el --- drive lsp-mode + Typilot in `emacs --batch'  -*- lexical-binding: t; -*-

;; Loads editors/emacs/typilot-lsp-mode.el (the file users copy), opens a file,
;; starts lsp-mode on it, runs `typilot-lsp-run' on a prefixed line and waits
;; until the server ends the run's $/progress.  Everything it saw is written as
;; JSON for the pytest side (tests/editors/test_emacs_lsp_mode.py).
;;
;; The spec comes from the JSON file named by $TYPILOT_EMACS_SPEC:
;;   config, program, settings, file, line, deadline, out, events
;;   (as for eglot_driver.el), and mode: "gen" (wait for the progress end) or
;;   "cancel" (after the first streamed edit run `typilot-lsp-cancel', then
;;   wait for the progress end).
;;
;; After the end the driver asks `typilot/history' until the run is recorded
;; (the server records a run just after its progress ends): that is the round
;; trip after the end.  An edit the server sent before its answer has been
;; applied when the answer comes, and the answer names the run's outcome.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(defvar td-spec
  (with-temp-buffer
    (insert-file-contents (getenv "TYPILOT_EMACS_SPEC"))
    (json-parse-buffer :object-type 'plist :false-object :json-false
                       :null-object nil :array-type 'array)))

(defun td-get (key) (plist-get td-spec key))

(defvar td-log nil "Events seen, newest first: plists.")
(defvar td-start (float-time))
(defvar td-apply-ok 0 "workspace/applyEdit requests lsp-mode applied.")
(defvar td-progress-ends 0 "$/progress end notifications seen.")
(defvar td-end-message nil "The message of the last $/progress end.")
(defvar td-buffer nil "The buffer under test.")

(defun td-note (kind &rest props)
  "Record an event KIND with PROPS."
  (push (append (list :kind kind :t (- (float-time) td-start)) props) td-log))

;; lsp-mode set up for a sandboxed batch run: no session file in the real home,
;; no other servers, no UI extras.
(setq lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
      lsp-enabled-clients '(typilot)
      lsp-auto-guess-root nil
      lsp-restart 'ignore
      lsp-keep-workspace-alive nil
      lsp-enable-file-watchers nil
      lsp-auto-configure nil
      lsp-enable-snippet nil
      lsp-log-io t)

(setq typilot-lsp-program (td-get :program))
(load (td-get :config) nil t)
(setq typilot-settings (td-get :settings))
(typilot-lsp--register-settings)

(advice-add 'lsp--apply-workspace-edit :after
            (lambda (&rest _)
              (cl-incf td-apply-ok)
              (td-note "applyEdit")))

(setq lsp-progress-function
      (lambda (_workspace params)
        (let* ((value (lsp-get params :value))
               (kind (lsp-get value :kind)))
          (when (equal kind "end")
            (cl-incf td-progress-ends)
            (setq td-end-message (lsp-get value :message)))
          (td-note "progress" :progress kind :message (or (lsp-get value :message) "")))))

(defun td-wait (pred seconds)
  "Process server input until PRED holds or SECONDS pass; return PRED's value."
  (let ((deadline (+ (float-time) seconds))
        (value nil))
    (while (and (not (setq value (funcall pred)))
                (< (float-time) deadline))
      (accept-process-output nil 0.05))
    value))

(defvar td-history-asked 0.0 "When the driver last asked for the history.")

(defun td-recorded-runs ()
  "The runs the server has recorded, newest first (nil: none yet).
Asks `typilot/history' at most every 0.2 s."
  (when (>= (- (float-time) td-history-asked) 0.2)
    (setq td-history-asked (float-time))
    (append (lsp-get (lsp-request "typilot/history" '(:limit 10)) :entries) nil)))

(defun td-text ()
  (with-current-buffer td-buffer
    (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max)))))

(defun td-write-result (result)
  (when (td-get :events)
    (let ((log (get-buffer "*lsp-log*")))
      (when log
        (with-current-buffer log
          (write-region (point-min) (point-max) (td-get :events) nil 'quiet)))))
  (with-temp-file (td-get :out)
    (insert (json-serialize
             (append result
                     (list :log (vconcat (reverse td-log))
                           :applyOk td-apply-ok
                           :progressEnds td-progress-ends
                           :endMessage (or td-end-message :null)
                           :text (if td-buffer (td-text) :null)))
             :false-object :json-false :null-object :null))))

(defun td-run ()
  (let ((deadline (td-get :deadline))
        (result nil))
    (setq td-buffer (find-file-noselect (td-get :file)))
    (with-current-buffer td-buffer
      (lsp-workspace-folders-add (file-name-directory (td-get :file)))
      (lsp)
      (unless (td-wait (lambda ()
                         (with-current-buffer td-buffer
                           (cl-some (lambda (ws) (eq (lsp--workspace-status ws) 'initialized))
                                    (lsp-workspaces))))
                       deadline)
        (error "lsp-mode did not start %s within %ss" (td-get :program) deadline))
      (td-note "connected")
      (goto-char (point-min))
      (forward-line (1- (td-get :line)))
      (typilot-lsp-run)
      (td-note "runStarted")
      (pcase (td-get :mode)
        ("gen"
         (setq result (list :ended (if (td-wait (lambda () (> td-progress-ends 0)) deadline)
                                       t :json-false))))
        ("cancel"
         (unless (td-wait (lambda () (> td-apply-ok 0)) deadline)
           (error "No streamed edit arrived within %ss" deadline))
         (typilot-lsp-cancel)
         (td-note "cancelled")
         (setq result (list :applyAtCancel td-apply-ok
                            :ended (if (td-wait (lambda () (> td-progress-ends 0)) deadline)
                                       t :json-false)))))
      ;; The round trip after the end: nothing may change once the run has ended.
      (let ((recorded (td-wait #'td-recorded-runs deadline)))
        (td-note "history" :count (length recorded))
        (setq result (append result
                             (list :outcome (or (and recorded (lsp-get (car recorded) :outcome))
                                                :null))))))
    result))

(let ((result (condition-case err
                  (td-run)
                (error (list :error (error-message-string err))))))
  (td-write-result result)
  (ignore-errors
    (with-current-buffer td-buffer
      (lsp-workspace-shutdown (car (lsp-workspaces)))))
  (kill-emacs (if (plist-get result :error) 2 0)))

;;; lsp_mode_driver.el ends here
