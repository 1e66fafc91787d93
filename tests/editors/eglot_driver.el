;;; eglot_driver.el --- drive Eglot + Typilot in `emacs --batch'  -*- lexical-binding: t; -*-

;; Loads editors/emacs/typilot-eglot.el (the file users copy), opens a file,
;; connects Eglot to typilot-lsp, asks for code actions on a prefixed line,
;; runs the Typilot one and waits for the streamed text.  Everything it saw is
;; written as JSON for the pytest side (tests/editors/test_emacs_eglot.py).
;;
;; The spec comes from the JSON file named by $TYPILOT_EMACS_SPEC:
;;   config    path of typilot-eglot.el
;;   program   absolute path of typilot-lsp
;;   settings  the `typilot' settings section
;;   file      the file to open;  line: 1-based line of the prefix
;;   region    optional: select from `line' up to the start of this 1-based line
;;   newSettings  optional: once connected, set `typilot-settings' to this and
;;             run `typilot-send-settings' (workspace/didChangeConfiguration)
;;   mode      "gen": wait until the run has ended;
;;             "cancel": after the first streamed edit run `typilot-cancel', then
;;             wait until the run has ended;
;;             "type": insert `typed' at the end of the buffer right after
;;             Eglot reports the first streamed edit, then wait as for "gen";
;;             "type-continuously": after the first streamed edit insert `typed'
;;             every 0.2 s for `typingSeconds' (Emacs is never idle meanwhile),
;;             then wait until the run has ended
;;   expect    the whole buffer text expected after the run (`reached' says
;;             whether the buffer read it once the run had ended)
;;   deadline  seconds before giving up
;;   out       where to write the result JSON;  events: where to dump Eglot's
;;             JSON-RPC events buffer
;;
;; When a run has ended is a protocol signal, not a time: Eglot 1.9 shows no
;; server progress, so the driver asks the server's `typilot/history', where
;; a run is recorded once it has ended (done, cancelled or failed) and its
;; last edit was answered.  That request is also the round trip after the
;; end: an edit sent before its answer has been applied when it comes.

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
(defvar td-last-change 0.0 "When the watched buffer last changed (float-time).")
(defvar td-apply-ok 0 "workspace/applyEdit requests applied.")
(defvar td-apply-failed 0 "workspace/applyEdit requests Eglot refused.")
(defvar td-buffer nil "The buffer under test.")
(defvar td-server-warning nil "The first warning or error the server showed.")
(defvar td-type-after-echo nil "Non-nil: type `typed' right after the next didChange.")

(defun td-note (kind &rest props)
  "Record an event KIND with PROPS."
  (push (append (list :kind kind :t (- (float-time) td-start)) props) td-log))

;; The user's config, with the server program set first (as a user would, in
;; their init file, before `require').
(setq typilot-lsp-program (td-get :program))
(load (td-get :config) nil t)
(setq typilot-settings (td-get :settings))

;; Watch what Eglot does with the server's requests and notifications.
(advice-add 'eglot--apply-workspace-edit :around
            (lambda (orig edit &rest args)
              (condition-case err
                  (prog1 (apply orig edit args)
                    (cl-incf td-apply-ok)
                    (td-note "applyEdit"
                             :versions
                             (vconcat (mapcar (lambda (dc)
                                                (or (plist-get (plist-get dc :textDocument)
                                                               :version)
                                                    :null))
                                              (plist-get edit :documentChanges)))))
                (error (cl-incf td-apply-failed)
                       (td-note "applyEditFailed" :error (error-message-string err))
                       (signal (car err) (cdr err))))))

(advice-add 'eglot-handle-notification :before
            (lambda (_server method &rest params)
              (when (and (eq method 'window/showMessage) (<= (plist-get params :type) 2)
                         (not td-server-warning))
                (setq td-server-warning (plist-get params :message)))
              (when (memq method '($/progress window/showMessage window/logMessage))
                (td-note (format "%s" method)
                         :params (format "%S" params)
                         :message (or (plist-get params :message)
                                      (plist-get (plist-get params :value) :kind)
                                      "")))))

(advice-add 'eglot-handle-request :before
            (lambda (_server method &rest _params)
              (unless (eq method 'workspace/applyEdit)
                (td-note "request" :method (format "%s" method)))))

(defun td-after-change (&rest _)
  (setq td-last-change (float-time)))

(defun td-flush-changes ()
  "Do what Emacs does when idle: run Eglot's pending didChange timer.
Idle timers never fire in batch mode, so without this Eglot would never tell
the server about the edits it applied."
  (with-current-buffer td-buffer
    (let ((timer (bound-and-true-p eglot--change-idle-timer)))
      (when (and (timerp timer)
                 (>= (- (float-time) td-last-change) eglot-send-changes-idle-time))
        (cancel-timer timer)
        (apply (timer--function timer) (timer--args timer))
        (when (and td-type-after-echo (> td-apply-ok 0))
          ;; The user types right after Eglot reported the streamed edit, so the
          ;; server's next edit is computed against a version Eglot has left.
          (setq td-type-after-echo nil)
          (save-excursion
            (goto-char (point-max))
            (insert (td-get :typed)))
          (td-note "typed"))))))

(defun td-wait (pred seconds)
  "Process server input until PRED holds or SECONDS pass; return PRED's value."
  (let ((deadline (+ (float-time) seconds))
        (value nil))
    (while (and (not (setq value (funcall pred)))
                (< (float-time) deadline))
      (accept-process-output nil 0.05)
      (td-flush-changes))
    value))

(defvar td-recorded nil "The runs the server has recorded, newest first (plists).")
(defvar td-history-asked 0.0 "When the driver last asked for the history.")

(defun td-run-ended ()
  "Non-nil once the server has recorded a run: runs are recorded after they end.
Asks `typilot/history' at most every 0.2 s (each answer processes what came before it)."
  (when (>= (- (float-time) td-history-asked) 0.2)
    (setq td-history-asked (float-time))
    (let ((server (with-current-buffer td-buffer (eglot-current-server))))
      (setq td-recorded
            (append (plist-get (jsonrpc-request server :typilot/history '(:limit 10)) :entries)
                    nil))))
  td-recorded)

(defun td-wait-run-end (deadline)
  "Wait until the run has ended (`td-run-ended') or DEADLINE seconds pass.
Returns the result keys `ended' and `outcome' (of the newest run recorded)."
  (let ((ended (td-wait #'td-run-ended deadline)))
    (td-note "runEnded" :ended (if ended t :json-false))
    (list :ended (if ended t :json-false)
          :outcome (or (plist-get (car td-recorded) :outcome) :null))))

(defun td-text ()
  (with-current-buffer td-buffer
    (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max)))))

(defun td-write-result (result)
  (let ((server (and td-buffer (with-current-buffer td-buffer (eglot-current-server)))))
    (when (and server (td-get :events))
      (with-current-buffer (jsonrpc-events-buffer server)
        (write-region (point-min) (point-max) (td-get :events) nil 'quiet))))
  (with-temp-file (td-get :out)
    (insert (json-serialize
             (append result
                     (list :log (vconcat (reverse td-log))
                           :applyOk td-apply-ok
                           :applyFailed td-apply-failed
                           :serverWarning (or td-server-warning :null)
                           :text (if td-buffer (td-text) :null)))
             :false-object :json-false :null-object :null))))

(defun td-run ()
  (let* ((deadline (td-get :deadline))
         (result nil))
    (setq td-buffer (find-file-noselect (td-get :file)))
    (with-current-buffer td-buffer
      (add-hook 'after-change-functions #'td-after-change nil t)
      ;; What M-x eglot does, minus the prompts.
      (apply #'eglot (eglot--guess-contact))
      (unless (td-wait (lambda () (with-current-buffer td-buffer
                                    (and (eglot-current-server) eglot--managed-mode)))
                       deadline)
        (error "Eglot did not connect to %s within %ss" (td-get :program) deadline))
      (td-note "connected")
      (when (td-get :newSettings)
        ;; The user edits `typilot-settings' in a running session and sends them.
        (setq typilot-settings (td-get :newSettings))
        (typilot-send-settings)
        (td-note "settingsSent"))
      (goto-char (point-min))
      (forward-line (1- (td-get :line)))
      (when (td-get :region)
        ;; Select whole lines, as a user would before `typilot-run'.
        (transient-mark-mode 1)
        (push-mark (point) t t)
        (forward-line (- (td-get :region) (td-get :line))))
      (let* ((all (append (if (use-region-p)
                              (eglot-code-actions (region-beginning) (region-end) nil nil)
                            (eglot-code-actions (line-beginning-position)
                                                (line-end-position) nil nil))
                          nil))
             (titles (vconcat (mapcar (lambda (a) (plist-get a :title)) all))))
        (td-note "codeActions" :titles titles)
        (setq result (list :titles titles))
        (let ((reply (typilot-run)))
          (td-note "runStarted" :reply (format "%S" reply)))
        (pcase (td-get :mode)
          ((or "gen" "type")
           (when (equal (td-get :mode) "type")
             ;; The user types at the end of the buffer while the run streams.
             (unless (td-wait (lambda () (> td-apply-ok 0)) deadline)
               (error "No streamed edit arrived within %ss" deadline))
             (setq td-type-after-echo t))
           (setq result (append result (td-wait-run-end deadline))))
          ("type-continuously"
           ;; The user keeps typing at the end of the buffer, never pausing long enough
           ;; for Eglot's idle timer, for `typingSeconds'; then everything settles.
           (unless (td-wait (lambda () (> td-apply-ok 0)) deadline)
             (error "No streamed edit arrived within %ss" deadline))
           ;; The typing pace is what this mode tests: a keystroke every 0.2 s.
           (let ((until (+ (float-time) (td-get :typingSeconds))))
             (while (< (float-time) until)
               (with-current-buffer td-buffer
                 (save-excursion (goto-char (point-max)) (insert (td-get :typed))))
               (td-wait #'ignore 0.2)))
           (td-note "typingStopped")
           (setq result (append result (td-wait-run-end deadline))))
          ("cancel"
           (unless (td-wait (lambda () (> td-apply-ok 0)) deadline)
             (error "No streamed edit arrived within %ss" deadline))
           (let ((at-cancel (td-text))
                 (reply (typilot-cancel)))
             (td-note "cancelled" :reply (format "%S" reply))
             (setq result (append result (list :textAtCancel at-cancel
                                               :applyAtCancel td-apply-ok))))
           (setq result (append result (td-wait-run-end deadline)))))
        (setq result (append result
                             (list :reached (if (equal (td-text) (td-get :expect)) t
                                              :json-false))))))
    result))

(let ((result (condition-case err
                  (td-run)
                (error (list :error (error-message-string err))))))
  (td-write-result result)
  (ignore-errors
    (with-current-buffer td-buffer
      (let ((server (eglot-current-server)))
        (when server (eglot-shutdown server)))))
  (kill-emacs (if (plist-get result :error) 2 0)))

;;; eglot_driver.el ends here
